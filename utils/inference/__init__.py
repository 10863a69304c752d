"""What inference needs besides the model: input sources and non-maximum suppression."""
