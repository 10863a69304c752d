"""The training loop's parts: loss, schedules, anchors, batch size, resume, evolution and run records."""
