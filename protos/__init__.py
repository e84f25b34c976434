"""The project's protobuf API (``protos/nst/v1/style.proto``) and its generated Python stubs."""
