//! Packet decoding and tcpdump-compatible printing.
