//! Median of signed price reports, the compute example.
