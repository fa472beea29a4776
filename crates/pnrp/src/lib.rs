//! Cloud discovery for peergroup (work in progress).
