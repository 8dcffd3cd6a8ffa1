"""Topic declarations (topics/topics.yaml) and applying them to a broker."""
