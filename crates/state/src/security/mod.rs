//! Group security: group root certificates (GRC), group membership certificates (GMC),
//! chain validation and invitations.
