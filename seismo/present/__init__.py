"""Present: turn plain result tables into what people and machines read."""
