//! Live capture and capture files.
