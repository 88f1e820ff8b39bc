"""Demo data for `make run` (`manage.py seed_demo`, marketplace/management/commands/seed_demo.py):
a living market that every page and endpoint can show.

- a moderator; the demo seller (verified badge, listings, sales, reads, payouts);
- a crowd of sellers (default 300) with realistic attributes (age bands, regions weighted by
  population, OS and operator shares, interests), consents and audience opt-ins, so common
  segments exceed K (SEGMENT_MIN_SIZE);
- fixed-price and auction listings, a few auctions ending minutes after start-up (with sealed
  bids: the beat sweep closes them and the worker settles them while you watch);
- a verified buyer organisation with an API key and a test card saved at the Stripe sandbox, and
  one awaiting verification (its own API key);
- settled trades (buy-now and an audience bundle), reads of the records through the buyer API,
  a revocation with its deletion notice, payouts paid, in transit and pending.

Every write goes through the services (accounts, listings, marketplace, payments) except the
crowd's accounts, profiles and consents, which are written in bulk (`_crowd_create`, the same
rows and receipts as the services write, then one `audience_refresh`): through the services
they cost ~35 ms a seller, ten seconds for 300.

The market part (card, trades, settlement, payouts) needs Stripe: `make run` (scripts/run.py)
runs this command once the sandboxes answer; without them it is skipped with a message. Trades
are settled here, synchronously, with marketplace.settlement (the worker is not running yet).

Idempotent: each part checks its own state (the crowd by email, listings per seller, the market
by the demo buyer's trades, reads, notices and payouts), so a second run adds nothing; a saved
card the sandbox no longer knows (a fresh run dir, the same database) is saved again. Writes the
logins to <run dir>/demo-logins.json and the API keys to <run dir>/demo-api-key.txt and
demo-api-key-pending.txt so scripts/run.py can print them.
"""
