"""Opens, clicks and page views: signed tokens, the hit buffer, classification and storage."""
