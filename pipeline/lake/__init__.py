"""Storage: the lake (a folder or an S3 prefix), its tables, the raw archive, the state
that the tables can rebuild, and the single writer's lease."""
