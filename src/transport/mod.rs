//! REST and Socket.IO adapters over the pipeline.
