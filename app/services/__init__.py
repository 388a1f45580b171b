"""Business logic: one function per user action, one commit point each."""
