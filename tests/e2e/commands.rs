//! The one-shot commands, each through the real binary.
