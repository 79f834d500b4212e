"""The runs that move pages down the path: a batch's ingestion, a day's commit, backfills,
the inbox, and the alerts they raise. They call sources, stages and the lake."""
