//! JSON lines: one object per event.
