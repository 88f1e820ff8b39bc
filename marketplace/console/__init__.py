"""The advertiser console: server-rendered pages where a buyer organisation signs up, verifies
its contact details, asks for verification, manages members, API keys and its card, and reads
its invoices and usage. One module per page domain; thin views (forms check shapes, services in
accounts and payments write, selectors read). Every page but sign-up, log-in and the emailed
links needs a logged-in buyer member, and each page names the organisation roles it admits
(`console_required`)."""
