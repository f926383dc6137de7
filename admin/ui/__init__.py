"""The admin web UI: sign-in, the layout every page shares, dashboard and health pages."""
