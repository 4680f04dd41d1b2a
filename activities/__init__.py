"""Side effects of claims: the read model (store), e-mail (mail) and survey links."""
