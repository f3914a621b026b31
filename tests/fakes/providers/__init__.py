"""Fakes of the external providers: catalogues, search packages, local HTTP servers."""
