"""xdeeploy: an xDSL-based compiler from ONNX to static C for RISC-V microcontrollers."""
