"""Power-sharing policies: static, equal, dynamic."""
