"""Who is acting: a verified OIDC identity, or the unverified OS/config user."""
