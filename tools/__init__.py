"""Developer tools that users do not need to run the detector."""
