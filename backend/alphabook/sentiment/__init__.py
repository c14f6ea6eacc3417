"""News, sentiment per symbol and the crypto Fear & Greed index, stored and refreshed (issue #11).

:mod:`alphabook.research.sentiment` computes (feeds, de-duplication, matching, scoring, the index); this
package fetches the configured feeds (:mod:`.fetch`), keeps one row per story with its score and the symbols it
names, keeps a snapshot of the index per refresh (:mod:`.service`, the only writer of these tables) and answers
the API's questions (:mod:`.queries`).
"""
