"""Build the single-node cluster's OCI images here, without Docker or a registry.

`make images` (python -m images); what each image is: images/README.md.
"""
