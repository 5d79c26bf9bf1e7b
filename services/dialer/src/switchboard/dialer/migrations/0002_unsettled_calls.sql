-- Placed calls are looked up at the provider when their final status is overdue (a lost
-- callback): ``lease_until`` of a placed attempt is when to look.
-- depends: 0001_dialer

CREATE INDEX attempts_placed ON attempts (lease_until) WHERE state = 'placed';
