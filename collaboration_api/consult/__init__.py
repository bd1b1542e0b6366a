"""Remote consultation: an opinion asked of an expert, live or asynchronous."""
