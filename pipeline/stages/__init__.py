"""What is made of a page, as pure functions of their inputs: main text, relevance,
entities and rights, duplicates, stories, and the quality figures. No network, no lake."""
