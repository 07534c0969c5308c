"""The public profiler API inside other frameworks' training loops (docs/api.md)."""
