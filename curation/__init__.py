"""Curation: crawl docs (a site, or an installed package's rendered API) into Chroma stores.

Heavy dependencies (selenium, chromadb, sentence-transformers) load only inside the modules
that wrap them: crawler, store, embed.
"""
