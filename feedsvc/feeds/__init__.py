"""Feed documents: values (model), their bytes (builder) and the feeds the site serves (service)."""
