"""Cluster metadata: records, the state they build, the controller that emits them, their log.

Sans-IO: metadata_records, metadata_state, controller_core. I/O: metadata_log (sync file
I/O) and metadata_store (the single-writer driver). See docs/metadata.md.
"""
