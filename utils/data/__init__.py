"""Datasets, label scanning, augmentation and data YAMLs: everything that turns files into training batches."""
