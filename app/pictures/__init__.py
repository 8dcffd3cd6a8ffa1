"""Pictures of journeys: Mermaid text and self-contained SVG / HTML (no CDN, works offline)."""
