"""What an account does: activity, shared logins, fair usage."""
