"""Workshop-claim workflows: the contract (messages), the rules, and the workflow itself."""
