"""Marketing activity (email sends, opens, clicks, form fills, visits) written to Salesforce as Tasks."""
