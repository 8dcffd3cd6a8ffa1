"""The imperative shell: faust agents and tables that move bytes and call the pure core."""
