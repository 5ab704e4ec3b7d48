//! TEMPORARY scaffold: operation details JSON (being written in this change).
