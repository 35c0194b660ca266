-- Khata ledger: database-side invariants and the posting path.
-- Installed by migration ledger.0003. Every statement is idempotent (CREATE OR REPLACE, DROP ... IF
-- EXISTS), so a change to this file ships with a migration that applies it again (ledger.0013).

CREATE OR REPLACE FUNCTION khata_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger % rows are immutable: reverse an entry instead of changing it', TG_TABLE_NAME
    USING ERRCODE = 'integrity_constraint_violation';
END $$;

DROP TRIGGER IF EXISTS ledger_entry_immutable ON ledger_entry;
CREATE TRIGGER ledger_entry_immutable BEFORE UPDATE OR DELETE ON ledger_entry
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();
DROP TRIGGER IF EXISTS ledger_posting_immutable ON ledger_posting;
CREATE TRIGGER ledger_posting_immutable BEFORE UPDATE OR DELETE ON ledger_posting
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();
DROP TRIGGER IF EXISTS ledger_consumption_immutable ON ledger_lotconsumption;
CREATE TRIGGER ledger_consumption_immutable BEFORE UPDATE OR DELETE ON ledger_lotconsumption
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();
DROP TRIGGER IF EXISTS ledger_checkpoint_immutable ON ledger_checkpoint;
CREATE TRIGGER ledger_checkpoint_immutable BEFORE UPDATE OR DELETE ON ledger_checkpoint
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();
-- Accounts and assets are never deleted (postings and lots refer to them without foreign keys).
DROP TRIGGER IF EXISTS ledger_account_undeletable ON ledger_account;
CREATE TRIGGER ledger_account_undeletable BEFORE DELETE ON ledger_account
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();
DROP TRIGGER IF EXISTS ledger_lot_undeletable ON ledger_lot;
CREATE TRIGGER ledger_lot_undeletable BEFORE DELETE ON ledger_lot
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();
DROP TRIGGER IF EXISTS ledger_asset_undeletable ON ledger_asset;
CREATE TRIGGER ledger_asset_undeletable BEFORE DELETE ON ledger_asset
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_immutable();

-- An account belongs to an owner or is a named system account, never both or neither. A trigger
-- that runs only when these columns are written: as a CHECK constraint it was rebuilt by every
-- balance update.
CREATE OR REPLACE FUNCTION khata_ledger_account_holder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT ((NEW.system_name = '' AND NEW.owner_type <> '' AND NEW.owner_id <> '')
          OR (NEW.system_name <> '' AND NEW.owner_type = '' AND NEW.owner_id = '')) THEN
    RAISE EXCEPTION 'account %: an account has an owner or a system name, not both or neither', NEW.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS ledger_account_holder ON ledger_account;
CREATE TRIGGER ledger_account_holder AFTER INSERT OR UPDATE OF owner_type, owner_id, system_name ON ledger_account
  FOR EACH ROW EXECUTE FUNCTION khata_ledger_account_holder();

-- A posting's asset is its account's asset: checked once per INSERT statement over all its rows
-- (a batch writes a thousand postings in one statement; a trigger per row cost a tenth of its time).
DROP TRIGGER IF EXISTS ledger_posting_asset ON ledger_posting;
DROP FUNCTION IF EXISTS khata_ledger_posting_asset();
CREATE OR REPLACE FUNCTION khata_ledger_postings_asset() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_bad record;
BEGIN
  SELECT n.account_id, n.asset_id INTO v_bad FROM khata_new_postings n
   WHERE NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = n.account_id AND a.asset_id = n.asset_id)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'posting asset % differs from account %''s asset', v_bad.asset_id, v_bad.account_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_posting_asset AFTER INSERT ON ledger_posting REFERENCING NEW TABLE AS khata_new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION khata_ledger_postings_asset();

-- Every entry's postings sum to zero per asset, checked at commit.
CREATE OR REPLACE FUNCTION khata_ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
-- Each new posting checks its own asset: together they check every asset the transaction touched
-- in the entry (an ungrouped sum costs a fifth less than grouping all of the entry's assets).
DECLARE
  v_sum numeric;
BEGIN
  SELECT sum(amount) INTO v_sum FROM ledger_posting WHERE entry_id = NEW.entry_id AND asset_id = NEW.asset_id;
  IF v_sum <> 0 THEN
    RAISE EXCEPTION 'ledger entry % does not balance: asset % sums to %', NEW.entry_id, NEW.asset_id, v_sum
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;
CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION khata_ledger_entry_balanced();

-- The account of an owner or a system name for an asset, created on first use.
CREATE OR REPLACE FUNCTION khata_ledger_account(p_asset bigint, p_owner_type text, p_owner_id text, p_system text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
BEGIN
  IF p_system <> '' THEN
    SELECT id INTO v_id FROM ledger_account WHERE system_name = p_system AND asset_id = p_asset;
  ELSE
    SELECT id INTO v_id FROM ledger_account
     WHERE owner_type = p_owner_type AND owner_id = p_owner_id AND asset_id = p_asset AND system_name = '';
  END IF;
  IF v_id IS NOT NULL THEN
    RETURN v_id;
  END IF;
  INSERT INTO ledger_account (asset_id, owner_type, owner_id, system_name, allow_overdraft, posted, pending,
                              fifo_from, created_at)
  VALUES (p_asset, CASE WHEN p_system <> '' THEN '' ELSE p_owner_type END,
          CASE WHEN p_system <> '' THEN '' ELSE p_owner_id END, p_system, p_system <> '', 0, 0, 0, now())
  ON CONFLICT DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN  -- created by a concurrent transaction that has now committed
    RETURN khata_ledger_account(p_asset, p_owner_type, p_owner_id, p_system);
  END IF;
  IF p_system <> '' THEN
    INSERT INTO ledger_balanceshard (account_id, shard, posted) SELECT v_id, s, 0 FROM generate_series(0, 63) s;
  END IF;
  RETURN v_id;
END $$;

-- The answer for a key claimed before: what the first request with it did.
CREATE OR REPLACE FUNCTION khata_ledger_replay(spec jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('status', 'existing', 'request_hash', o.request_hash, 'op_status', o.status,
                            'entry_id', o.entry_id, 'hold_id', o.hold_id, 'error_code', o.error_code,
                            'error_message', o.error_message)
    FROM ledger_operation o
   WHERE o.idempotency_type = spec->>'idem_type' AND o.idempotency_token = spec->>'idem_token'
$$;

-- Post one entry, or record why it was refused, in one round trip.
-- spec: {idem_type, idem_token, request_hash, kind, reason_type, reason_token, actor_type, actor_id,
--        effective_at?, metadata, tags, reverses?, postings: [{account_id? | owner_type+owner_id | system,
--        asset_id, amount, lot_tags?, lot_exclude?, prefer_entry?, restore_entry?}]}
-- returns {status: posted|existing|refused, ...}
-- Kept to few statements: each one costs more than the arithmetic around it. Its statements use
-- generic plans: they look rows up by key, and planning them afresh on every call (PostgreSQL's
-- choice for some of them) took a fifth of the call's time.
CREATE OR REPLACE FUNCTION khata_ledger_post(spec jsonb) RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_effective timestamptz := coalesce((spec->>'effective_at')::timestamptz, v_now);
  v_entry_tags jsonb := coalesce(spec->'tags', '[]'::jsonb);
  v_entry_id bigint := nextval('ledger_entry_id_seq'::regclass);
  v_postings jsonb := spec->'postings';
  v_op_id bigint;
  v_posting jsonb;
  v_n int;
  v_ids bigint[];
  v_assets bigint[];
  v_amounts bigint[];
  v_acc record;
  v_debit bigint;
  v_need bigint;
  v_take bigint;
  v_matching bigint;
  v_lot record;
  v_i int;
  v_j int;
  v_refusal text;
  v_own_ids bigint[] := '{}';
  v_own_deltas bigint[] := '{}';
  v_own_fifo bigint[] := '{}';
  v_k int;
  v_sys_ids bigint[] := '{}';
  v_sys_deltas bigint[] := '{}';
  -- lots consumed by this entry, in order: the tags that follow the money to its credits
  c_lot bigint[] := '{}';
  c_asset bigint[] := '{}';
  c_left bigint[] := '{}';
  c_tags jsonb[] := '{}';
  v_balances jsonb := '{}'::jsonb;
  v_tags jsonb;
  -- the system-balance shard: random, or the caller's batch-wide one (spec.shard) so that one batch
  -- touches a single shard row per system account and parallel batches cannot deadlock on shards
  v_shard int := coalesce((spec->>'shard')::int, floor(random() * 64)::int);
BEGIN
  -- Claim the key. The entry id is reserved up front so the claim already points at it
  -- (the foreign key is checked at commit).
  INSERT INTO ledger_operation (idempotency_type, idempotency_token, request_hash, status, error_code, error_message,
                                created_at, entry_id)
  VALUES (spec->>'idem_type', spec->>'idem_token', spec->>'request_hash', 'succeeded', '', '', v_now, v_entry_id)
  ON CONFLICT (idempotency_type, idempotency_token) DO NOTHING
  RETURNING id INTO v_op_id;
  IF v_op_id IS NULL THEN
    RETURN khata_ledger_replay(spec);
  END IF;

  -- Resolve every posting's account in one statement (accounts are created below if missing).
  SELECT array_agg(coalesce(x.account_id, own.id, sys.id) ORDER BY x.ord),
         array_agg(x.asset_id ORDER BY x.ord), array_agg(x.amount ORDER BY x.ord), count(*)
    INTO v_ids, v_assets, v_amounts, v_n
    FROM ROWS FROM (jsonb_to_recordset(v_postings)
           AS (account_id bigint, asset_id bigint, amount bigint, owner_type text, owner_id text, system text))
         WITH ORDINALITY AS x(account_id, asset_id, amount, owner_type, owner_id, system, ord)
    -- LATERAL + LIMIT 1: one unique-index probe per posting, whatever the planner guesses
    LEFT JOIN LATERAL (SELECT a.id FROM ledger_account a
                        WHERE x.account_id IS NULL AND x.system IS NULL AND a.system_name = ''
                          AND a.owner_type = x.owner_type AND a.owner_id = x.owner_id AND a.asset_id = x.asset_id
                        LIMIT 1) own ON true
    LEFT JOIN LATERAL (SELECT a.id FROM ledger_account a
                        WHERE x.account_id IS NULL AND x.system IS NOT NULL
                          AND a.system_name = x.system AND a.asset_id = x.asset_id
                        LIMIT 1) sys ON true;
  FOR v_i IN 1..v_n LOOP
    IF v_ids[v_i] IS NULL THEN
      v_posting := v_postings->(v_i - 1);
      v_ids[v_i] := khata_ledger_account(v_assets[v_i], coalesce(v_posting->>'owner_type', ''),
                                         coalesce(v_posting->>'owner_id', ''), coalesce(v_posting->>'system', ''));
    END IF;
  END LOOP;

  -- Lock the owner accounts in id order (system accounts are never locked: their balance is
  -- sharded) and check every debit before writing anything.
  FOR v_acc IN
    SELECT a.id, a.asset_id, a.allow_overdraft, a.posted, a.pending, a.fifo_from FROM ledger_account a
     WHERE a.id = ANY(v_ids) AND a.system_name = '' ORDER BY a.id FOR NO KEY UPDATE
  LOOP
    v_debit := 0;
    v_own_ids := v_own_ids || v_acc.id;
    v_own_deltas := v_own_deltas || 0::bigint;
    v_own_fifo := v_own_fifo || v_acc.fifo_from;
    FOR v_i IN 1..v_n LOOP
      CONTINUE WHEN v_ids[v_i] <> v_acc.id;
      IF v_assets[v_i] <> v_acc.asset_id THEN
        RAISE EXCEPTION 'asset % differs from account %''s asset', v_assets[v_i], v_acc.id USING ERRCODE = 'check_violation';
      END IF;
      v_own_deltas[array_length(v_own_ids, 1)] := v_own_deltas[array_length(v_own_ids, 1)] + v_amounts[v_i];
      CONTINUE WHEN v_amounts[v_i] > 0;
      -- gross: a credit in the same entry cannot pay for a debit, which spends existing lots
      v_debit := v_debit - v_amounts[v_i];
      v_posting := v_postings->(v_i - 1);
      IF v_posting ? 'lot_tags' OR v_posting ? 'lot_exclude' THEN
        SELECT coalesce(sum(l.remaining), 0) INTO v_matching FROM ledger_lot l
         WHERE l.account_id = v_acc.id AND l.remaining > 0
           AND l.tags @> coalesce(v_posting->'lot_tags', '[]'::jsonb)
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(v_posting->'lot_exclude', '[]'::jsonb)) x
                            WHERE l.tags @> jsonb_build_array(x.value));
        IF v_matching < -v_amounts[v_i] THEN
          v_refusal := 'Not enough money matching the requested tags.';
        END IF;
      END IF;
    END LOOP;
    IF NOT v_acc.allow_overdraft AND v_acc.posted - v_acc.pending < v_debit THEN
      v_refusal := coalesce(v_refusal, 'The available balance is too low.');
    END IF;
    IF v_refusal IS NOT NULL THEN
      UPDATE ledger_operation SET status = 'refused', entry_id = NULL, error_code = 'insufficient_funds',
             error_message = v_refusal WHERE id = v_op_id;
      RETURN jsonb_build_object('status', 'refused', 'error_code', 'insufficient_funds', 'error_message', v_refusal);
    END IF;
  END LOOP;
  FOR v_i IN 1..v_n LOOP
    CONTINUE WHEN v_ids[v_i] = ANY(v_own_ids);
    v_sys_ids := v_sys_ids || v_ids[v_i];
    v_sys_deltas := v_sys_deltas || v_amounts[v_i];
  END LOOP;

  INSERT INTO ledger_entry (id, kind, reason_type, reason_token, idempotency_type, idempotency_token, actor_type,
                            actor_id, effective_at, created_at, metadata, tags, reverses_id)
  VALUES (v_entry_id, spec->>'kind', spec->>'reason_type', spec->>'reason_token', spec->>'idem_type',
          spec->>'idem_token', spec->>'actor_type', spec->>'actor_id', v_effective, v_now,
          coalesce(spec->'metadata', '{}'::jsonb), v_entry_tags, (spec->>'reverses')::bigint);

  INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)
  SELECT v_entry_id, a, s, m, v_effective FROM unnest(v_ids, v_assets, v_amounts) AS t(a, s, m);

  -- Balances: system accounts on a random shard here; owner accounts (locked above) after the lots.
  -- one system account at a time, in id order, so shard row locks are always taken in one order
  IF v_sys_ids <> '{}' THEN
    FOR v_acc IN
      SELECT t.id, sum(t.delta) AS delta FROM unnest(v_sys_ids, v_sys_deltas) AS t(id, delta) GROUP BY t.id ORDER BY t.id
    LOOP
      UPDATE ledger_balanceshard SET posted = posted + v_acc.delta WHERE account_id = v_acc.id AND shard = v_shard;
    END LOOP;
  END IF;

  -- Lots: debits of owner accounts consume lots (FIFO, or only matching ones); credits form new lots
  -- that carry the consumed lots' tags, then the entry's own tags for the rest.
  FOR v_i IN 1..v_n LOOP
    CONTINUE WHEN v_amounts[v_i] > 0 OR NOT (v_ids[v_i] = ANY(v_own_ids));
    v_need := -v_amounts[v_i];
    v_posting := v_postings->(v_i - 1);
    -- one lot at a time: plain FIFO walks the open-lots index; a filtered or reversal debit
    -- looks only at matching lots (preferring the reversed entry's own)
    LOOP
      IF NOT (v_posting ? 'lot_tags' OR v_posting ? 'lot_exclude' OR v_posting ? 'prefer_entry') THEN
        -- find, spend and record the oldest open lot in one statement (v_lot.remaining: before).
        -- No lock on the lot row: lots change only under their account's row lock, held here.
        v_k := array_position(v_own_ids, v_ids[v_i]);
        WITH lot AS (
          SELECT l.id, l.remaining, l.tags FROM ledger_lot l
           WHERE l.account_id = v_ids[v_i] AND l.id >= v_own_fifo[v_k] AND l.remaining > 0
           ORDER BY l.id LIMIT 1
        ), spent AS (
          UPDATE ledger_lot u SET remaining = u.remaining - least(lot.remaining, v_need) FROM lot WHERE u.id = lot.id
          RETURNING lot.id, lot.remaining, lot.tags
        ), used AS (
          INSERT INTO ledger_lotconsumption (lot_id, entry_id, amount, created_at)
          SELECT s.id, v_entry_id, least(s.remaining, v_need), v_now FROM spent s
        )
        SELECT s.id, s.remaining, s.tags INTO v_lot FROM spent s;
        -- plain FIFO spends from the oldest open lot: every lot below this one is spent
        IF FOUND THEN
          v_own_fifo[v_k] := v_lot.id;
        END IF;
      ELSE
        SELECT l.id, l.remaining, l.tags INTO v_lot FROM ledger_lot l
         WHERE l.account_id = v_ids[v_i] AND l.remaining > 0
           AND (NOT (v_posting ? 'lot_tags') OR l.tags @> (v_posting->'lot_tags'))
           AND (NOT (v_posting ? 'lot_exclude') OR NOT EXISTS (
                 SELECT 1 FROM jsonb_array_elements(v_posting->'lot_exclude') x WHERE l.tags @> jsonb_build_array(x.value)))
         ORDER BY (l.entry_id = (v_posting->>'prefer_entry')::bigint) DESC NULLS LAST, l.id
         LIMIT 1;
        IF FOUND THEN
          WITH spent AS (UPDATE ledger_lot SET remaining = remaining - least(v_lot.remaining, v_need) WHERE id = v_lot.id)
          INSERT INTO ledger_lotconsumption (lot_id, entry_id, amount, created_at)
          VALUES (v_lot.id, v_entry_id, least(v_lot.remaining, v_need), v_now);
        END IF;
      END IF;
      EXIT WHEN NOT FOUND;
      v_take := least(v_lot.remaining, v_need);
      c_lot := c_lot || v_lot.id;
      c_asset := c_asset || v_assets[v_i];
      c_left := c_left || v_take;
      c_tags := c_tags || v_lot.tags;
      v_need := v_need - v_take;
      EXIT WHEN v_need = 0;
    END LOOP;
    IF v_need > 0 THEN
      RAISE EXCEPTION 'lots of account % do not cover its balance (short by %)', v_ids[v_i], v_need
        USING ERRCODE = 'check_violation';
    END IF;
  END LOOP;

  FOR v_i IN 1..v_n LOOP
    CONTINUE WHEN v_amounts[v_i] < 0 OR NOT (v_ids[v_i] = ANY(v_own_ids));
    v_need := v_amounts[v_i];
    v_posting := v_postings->(v_i - 1);
    -- money given back by a reversal returns as the lots it was spent from, each with its tags
    IF v_posting ? 'restore_entry' THEN
      FOR v_lot IN
        SELECT c.amount, l.id, l.tags FROM ledger_lotconsumption c JOIN ledger_lot l ON l.id = c.lot_id
         WHERE c.entry_id = (v_posting->>'restore_entry')::bigint AND l.account_id = v_ids[v_i] ORDER BY c.id
      LOOP
        EXIT WHEN v_need = 0;
        v_take := least(v_lot.amount, v_need);
        INSERT INTO ledger_lot (account_id, entry_id, amount, remaining, tags, source_lot_id, created_at)
        VALUES (v_ids[v_i], v_entry_id, v_take, v_take, v_lot.tags, v_lot.id, v_now);
        v_need := v_need - v_take;
      END LOOP;
    END IF;
    FOR v_j IN 1..coalesce(array_length(c_lot, 1), 0) LOOP
      EXIT WHEN v_need = 0;
      CONTINUE WHEN c_left[v_j] = 0 OR c_asset[v_j] <> v_assets[v_i];
      v_take := least(c_left[v_j], v_need);
      v_tags := c_tags[v_j];
      IF v_entry_tags <> '[]'::jsonb THEN
        SELECT coalesce(jsonb_agg(DISTINCT e.value ORDER BY e.value), '[]'::jsonb) INTO v_tags
          FROM jsonb_array_elements(c_tags[v_j] || v_entry_tags) e;
      END IF;
      INSERT INTO ledger_lot (account_id, entry_id, amount, remaining, tags, source_lot_id, created_at)
      VALUES (v_ids[v_i], v_entry_id, v_take, v_take, v_tags, c_lot[v_j], v_now);
      c_left[v_j] := c_left[v_j] - v_take;
      v_need := v_need - v_take;
    END LOOP;
    IF v_need > 0 THEN
      INSERT INTO ledger_lot (account_id, entry_id, amount, remaining, tags, source_lot_id, created_at)
      VALUES (v_ids[v_i], v_entry_id, v_need, v_need, v_entry_tags, NULL, v_now);
    END IF;
  END LOOP;

  FOR v_acc IN
    UPDATE ledger_account a SET posted = a.posted + d.delta, fifo_from = d.fifo
      FROM unnest(v_own_ids, v_own_deltas, v_own_fifo) AS d(id, delta, fifo)
     WHERE a.id = d.id
    RETURNING a.id, a.posted, a.pending
  LOOP
    v_balances := v_balances || jsonb_build_object(v_acc.id::text, jsonb_build_array(v_acc.posted, v_acc.pending));
  END LOOP;

  RETURN jsonb_build_object('status', 'posted', 'entry_id', v_entry_id, 'account_ids', to_jsonb(v_ids),
                            'balances', v_balances);
END $$;

-- The common entries in few statements: one asset, at most one owner debit, one owner credit (of
-- another owner) and one system leg, no lot filter, no account named by id, not a reversal
-- (deposits, withdrawals, transfers, awards, fees). The caller names the legs' roles:
-- spec.simple = [debit leg, credit leg, system leg], 0-based, null where absent.
-- Same rows and answer as khata_ledger_post, without its general loops: claim the key; find and
-- lock the accounts; read the lots the debit spends (one statement per lot, usually one); write
-- the entry, postings, lots and owner balances in one statement; add to the system account's
-- shard. Setting up each statement's plan costs more than running it, and a PL/pgSQL assignment
-- costs about as much as a small plan node, so there are few of both: the accounts are read by a
-- loop in id order (an aggregate over them cost more) as whole rows, and updated by the ctid their
-- lock returned (not looked up again); the usual transfer (one lot pays it, no entry tags) skips
-- the general lot loops; arrays are inserted in their order without a sort; and the answer's
-- balances are worked out here rather than gathered from the UPDATE.
-- An account not created yet raises SQLSTATE KL001, and a key used before unique_violation (a
-- plain insert costs a fifth less than ON CONFLICT), both before anything is written; the caller
-- then posts through khata_ledger_post, which creates the account or answers for the key. The key
-- is claimed before any account is locked: a call waiting for another transaction's claim of its
-- key holds no account lock that transaction might need.
-- The key claim (but for ON CONFLICT), the refusal record and the entry row are written as
-- khata_ledger_post writes them, statement for statement; change them together
-- (tests/ledger/test_simple_path.py compares the two). They are not shared through a helper
-- function: a SQL function's statement is planned again on every call, a PL/pgSQL one's costs a
-- call frame, on the path every posting takes.
CREATE OR REPLACE FUNCTION khata_ledger_post_simple(spec jsonb) RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_effective timestamptz := coalesce((spec->>'effective_at')::timestamptz, v_now);
  v_entry_tags jsonb := coalesce(spec->'tags', '[]'::jsonb);
  v_entry_id bigint := nextval('ledger_entry_id_seq'::regclass);
  v_postings jsonb := spec->'postings';
  v_di int := (spec->'simple'->>0)::int;
  v_ci int := (spec->'simple'->>1)::int;
  v_si int := (spec->'simple'->>2)::int;
  v_d jsonb := v_postings->v_di;  -- null when absent, as everything derived from it
  v_c jsonb := v_postings->v_ci;
  v_s jsonb := v_postings->v_si;
  v_asset bigint := (v_postings->0->>'asset_id')::bigint;
  v_dn bigint := -(v_d->>'amount')::bigint;
  v_cn bigint := (v_c->>'amount')::bigint;
  v_op_id bigint;
  v_row record;
  v_da ledger_account;  -- the debit's and the credit's accounts (all null when absent or not found),
  v_ca ledger_account;  -- and where their locked rows are
  v_d_tid tid;
  v_c_tid tid;
  v_s_id bigint;
  v_shard int;
  v_lot ledger_lot;  -- after the debit: the last lot it spent
  v_need bigint;
  v_take bigint;
  v_j int;
  v_ids bigint[];
  -- lots the debit spends, in order, and the lots the credit forms from them (null: none)
  c_lot bigint[];
  c_take bigint[];
  c_tags jsonb[];
  n_amount bigint[];
  n_source bigint[];
  n_tags jsonb[];
BEGIN
  INSERT INTO ledger_operation (idempotency_type, idempotency_token, request_hash, status, error_code, error_message,
                                created_at, entry_id)
  VALUES (spec->>'idem_type', spec->>'idem_token', spec->>'request_hash', 'succeeded', '', '', v_now, v_entry_id)
  RETURNING id INTO v_op_id;  -- a key used before: unique_violation, and the caller asks khata_ledger_post

  -- The owner accounts, locked in id order. Their rows are updated below by the ctid the lock
  -- returned: no other transaction writes a row we hold locked, and a lock that had to wait for
  -- another writer returns the newest version of the row.
  FOR v_row IN
    SELECT k.debit, a, a.ctid
      FROM (VALUES (true, v_d->>'owner_type', v_d->>'owner_id'),
                   (false, v_c->>'owner_type', v_c->>'owner_id')) AS k(debit, owner_type, owner_id)
      JOIN ledger_account a ON a.owner_type = k.owner_type AND a.owner_id = k.owner_id
     WHERE a.system_name = '' AND a.asset_id = v_asset
     ORDER BY a.id FOR NO KEY UPDATE OF a
  LOOP
    IF v_row.debit THEN
      v_da := v_row.a;
      v_d_tid := v_row.ctid;
    ELSE
      v_ca := v_row.a;
      v_c_tid := v_row.ctid;
    END IF;
  END LOOP;
  -- The system account is never locked: its balance is sharded.
  IF v_s IS NOT NULL THEN
    SELECT a.id INTO v_s_id FROM ledger_account a
     WHERE a.system_name = v_s->>'system' AND a.system_name <> '' AND a.asset_id = v_asset;
  END IF;
  IF (v_d IS NOT NULL AND v_da.id IS NULL) OR (v_c IS NOT NULL AND v_ca.id IS NULL)
     OR (v_s IS NOT NULL AND v_s_id IS NULL) THEN
    RAISE EXCEPTION 'an account of this entry does not exist yet' USING ERRCODE = 'KL001';
  END IF;
  IF NOT v_da.allow_overdraft AND v_da.posted - v_da.pending < v_dn THEN
    UPDATE ledger_operation SET status = 'refused', entry_id = NULL, error_code = 'insufficient_funds',
           error_message = 'The available balance is too low.' WHERE id = v_op_id;
    RETURN jsonb_build_object('status', 'refused', 'error_code', 'insufficient_funds',
                              'error_message', 'The available balance is too low.');
  END IF;

  -- The debit spends the oldest open lots (read after the lock: lots change only under it), one
  -- at a time: a FOR loop's cursor would read ten ahead, mostly for nothing.
  IF v_d IS NOT NULL THEN
    SELECT l.* INTO v_lot FROM ledger_lot l
     WHERE l.account_id = v_da.id AND l.id >= v_da.fifo_from AND l.remaining > 0
     ORDER BY l.id LIMIT 1;
    IF v_lot.remaining >= v_dn AND v_cn = v_dn AND v_entry_tags = '[]'::jsonb THEN
      -- the usual transfer: the oldest open lot pays for all of it, and the credit continues it,
      -- as the loops below would have it
      c_lot := ARRAY[v_lot.id];
      c_take := ARRAY[v_dn];
      n_amount := c_take;
      n_source := c_lot;
      n_tags := ARRAY[v_lot.tags];
    ELSE
      v_need := v_dn;
      LOOP
        EXIT WHEN NOT FOUND;
        v_take := least(v_lot.remaining, v_need);
        c_lot := c_lot || v_lot.id;
        c_take := c_take || v_take;
        c_tags := c_tags || v_lot.tags;
        v_need := v_need - v_take;
        EXIT WHEN v_need = 0;
        SELECT l.* INTO v_lot FROM ledger_lot l
         WHERE l.account_id = v_da.id AND l.id > v_lot.id AND l.remaining > 0
         ORDER BY l.id LIMIT 1;
      END LOOP;
      IF v_need > 0 THEN
        RAISE EXCEPTION 'lots of account % do not cover its balance (short by %)', v_da.id, v_need
          USING ERRCODE = 'check_violation';
      END IF;
    END IF;
  END IF;
  -- The credit continues the spent lots, with their tags (and the entry's, when it has any), then
  -- the entry's own tags for the rest (unless the usual transfer above formed them already).
  IF v_c IS NOT NULL AND n_amount IS NULL THEN
    v_need := v_cn;
    FOR v_j IN 1..coalesce(array_upper(c_lot, 1), 0) LOOP
      EXIT WHEN v_need = 0;
      v_take := least(c_take[v_j], v_need);
      n_amount := n_amount || v_take;
      n_source := n_source || c_lot[v_j];
      IF v_entry_tags = '[]'::jsonb THEN
        n_tags := n_tags || c_tags[v_j];
      ELSE
        n_tags := n_tags || (SELECT coalesce(jsonb_agg(DISTINCT e.value ORDER BY e.value), '[]'::jsonb)
                               FROM jsonb_array_elements(c_tags[v_j] || v_entry_tags) e);
      END IF;
      v_need := v_need - v_take;
    END LOOP;
    IF v_need > 0 THEN
      n_amount := n_amount || v_need;
      n_source := n_source || NULL::bigint;
      n_tags := n_tags || v_entry_tags;
    END IF;
  END IF;

  -- each leg's account, in the legs' order (a leg's amount is its own)
  v_ids := (ARRAY[CASE 0 WHEN v_di THEN v_da.id WHEN v_ci THEN v_ca.id WHEN v_si THEN v_s_id END,
                  CASE 1 WHEN v_di THEN v_da.id WHEN v_ci THEN v_ca.id WHEN v_si THEN v_s_id END,
                  CASE 2 WHEN v_di THEN v_da.id WHEN v_ci THEN v_ca.id WHEN v_si THEN v_s_id END]
           )[1:jsonb_array_length(v_postings)];
  -- Each array is inserted from one unnest: unnest(a, b) scans each array as a function of its own.
  WITH entry AS (
    INSERT INTO ledger_entry (id, kind, reason_type, reason_token, idempotency_type, idempotency_token, actor_type,
                              actor_id, effective_at, created_at, metadata, tags, reverses_id)
    VALUES (v_entry_id, spec->>'kind', spec->>'reason_type', spec->>'reason_token', spec->>'idem_type',
            spec->>'idem_token', spec->>'actor_type', spec->>'actor_id', v_effective, v_now,
            coalesce(spec->'metadata', '{}'::jsonb), v_entry_tags, NULL)
  ), postings AS (
    INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)
    SELECT v_entry_id, p.account_id, v_asset, (v_postings->(p.leg::int - 1)->>'amount')::bigint, v_effective
      FROM unnest(v_ids) WITH ORDINALITY AS p(account_id, leg)
  ), spent AS (
    UPDATE ledger_lot l SET remaining = l.remaining - c_take[array_position(c_lot, l.id)] WHERE l.id = ANY (c_lot)
  ), used AS (
    INSERT INTO ledger_lotconsumption (lot_id, entry_id, amount, created_at)
    SELECT t.id, v_entry_id, c_take[t.i], v_now FROM unnest(c_lot) WITH ORDINALITY AS t(id, i)
  ), formed AS (
    INSERT INTO ledger_lot (account_id, entry_id, amount, remaining, tags, source_lot_id, created_at)
    SELECT v_ca.id, v_entry_id, t.amount, t.amount, n_tags[t.i], n_source[t.i], v_now
      FROM unnest(n_amount) WITH ORDINALITY AS t(amount, i)
  )
  UPDATE ledger_account a
     SET posted = a.posted + CASE WHEN a.id = v_da.id THEN -v_dn ELSE v_cn END,
         fifo_from = CASE WHEN a.id = v_da.id THEN v_lot.id ELSE a.fifo_from END
   WHERE a.ctid = ANY (ARRAY[v_d_tid, v_c_tid]);
  IF v_s IS NOT NULL THEN
    v_shard := floor(random() * 64)::int;
    UPDATE ledger_balanceshard SET posted = posted + (v_s->>'amount')::bigint
     WHERE account_id = v_s_id AND shard = v_shard;
  END IF;

  RETURN jsonb_build_object('status', 'posted', 'entry_id', v_entry_id, 'account_ids', to_jsonb(v_ids),
                            'balances',
                            CASE WHEN v_da.id IS NULL THEN '{}'::jsonb
                                 ELSE jsonb_build_object(v_da.id::text,
                                                         jsonb_build_array(v_da.posted - v_dn, v_da.pending::bigint))
                            END
                            || CASE WHEN v_ca.id IS NULL THEN '{}'::jsonb
                                    ELSE jsonb_build_object(v_ca.id::text,
                                                            jsonb_build_array(v_ca.posted + v_cn, v_ca.pending::bigint))
                               END);
END $$;

-- Many entries in one transaction; each answers on its own (a refusal does not stop the others).
-- Batches where no owner account is debited in more than one entry (an account only credited may
-- appear in many) and no entry moves money between owners, filters lots, names accounts by id or
-- reverses (awards, expiry and billing runs) are posted set-based, a few statements for the whole
-- batch. Anything else goes entry by entry through khata_ledger_post, with the same results.
CREATE OR REPLACE FUNCTION khata_ledger_post_batch(specs jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_spec jsonb;
  v_results jsonb[] := '{}';
  v_out jsonb;
  v_now timestamptz := clock_timestamp();
  v_shard int := floor(random() * 64)::int;
  v_fast boolean;
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS khata_batch_entry (
    ord bigint, spec jsonb, entry_id bigint, op_id bigint, status text
  ) ON COMMIT DELETE ROWS;  -- no index: each row is updated four times, and a key on ord cost more than it saved
  CREATE TEMP TABLE IF NOT EXISTS khata_batch_leg (
    ord bigint, leg bigint, asset_id bigint, amount bigint, owner_type text, owner_id text, system text,
    account_id bigint, is_owner boolean, flagged boolean
  ) ON COMMIT DELETE ROWS;
  TRUNCATE khata_batch_entry, khata_batch_leg;

  INSERT INTO khata_batch_entry (ord, spec)
  SELECT s.ordinality, s.value FROM jsonb_array_elements(specs) WITH ORDINALITY AS s(value, ordinality);
  INSERT INTO khata_batch_leg (ord, leg, asset_id, amount, owner_type, owner_id, system, account_id, flagged)
  SELECT e.ord, l.ordinality, (l.value->>'asset_id')::bigint, (l.value->>'amount')::bigint, l.value->>'owner_type',
         l.value->>'owner_id', l.value->>'system', (l.value->>'account_id')::bigint,
         l.value ?| ARRAY['account_id', 'lot_tags', 'lot_exclude', 'prefer_entry', 'restore_entry']
    FROM khata_batch_entry e, jsonb_array_elements(e.spec->'postings') WITH ORDINALITY AS l(value, ordinality);

  SELECT NOT EXISTS (SELECT 1 FROM khata_batch_entry WHERE spec ? 'reverses')
     AND NOT EXISTS (SELECT 1 FROM khata_batch_leg WHERE flagged)
     AND NOT EXISTS (SELECT 1 FROM khata_batch_leg WHERE system IS NULL
                      GROUP BY owner_type, owner_id, asset_id HAVING count(DISTINCT ord) > 1 AND bool_or(amount < 0))
     AND NOT EXISTS (SELECT 1 FROM khata_batch_leg WHERE system IS NULL
                      GROUP BY ord HAVING bool_or(amount < 0) AND bool_or(amount > 0))
     AND NOT EXISTS (SELECT 1 FROM khata_batch_entry GROUP BY spec->>'idem_type', spec->>'idem_token' HAVING count(*) > 1)
    INTO v_fast;
  IF NOT v_fast THEN
    FOR v_spec IN SELECT spec FROM khata_batch_entry ORDER BY ord LOOP
      v_results := v_results || khata_ledger_post(v_spec || jsonb_build_object('shard', v_shard));
    END LOOP;
    RETURN to_jsonb(v_results);
  END IF;

  -- Claim every key; a key seen before answers through khata_ledger_post below (replay).
  UPDATE khata_batch_entry SET entry_id = nextval('ledger_entry_id_seq'::regclass);
  WITH claimed AS (
    INSERT INTO ledger_operation (idempotency_type, idempotency_token, request_hash, status, error_code,
                                  error_message, created_at, entry_id)
    SELECT spec->>'idem_type', spec->>'idem_token', spec->>'request_hash', 'succeeded', '', '', v_now, entry_id
      FROM khata_batch_entry ORDER BY ord
    ON CONFLICT (idempotency_type, idempotency_token) DO NOTHING
    RETURNING id, entry_id
  )
  UPDATE khata_batch_entry e SET op_id = c.id, status = 'claimed' FROM claimed c WHERE c.entry_id = e.entry_id;
  UPDATE khata_batch_entry SET status = 'existing' WHERE status IS NULL;

  -- The batch tables have no statistics, so the planner cannot tell a batch from a ledger table:
  -- lookups in ledger tables are written as index probes (a scalar subquery, or LATERAL ... LIMIT 1)
  -- so that no plan scans a whole ledger table, a cost that would grow with the ledger.
  -- Owner accounts: one probe of the owner index per leg (as a join, the planner took the batch
  -- for a few rows and scanned every owner account once per leg). Those not found yet are
  -- created below.
  UPDATE khata_batch_leg l SET account_id = (SELECT a.id FROM ledger_account a
                                              WHERE a.system_name = '' AND a.owner_type = l.owner_type
                                                AND a.owner_id = l.owner_id AND a.asset_id = l.asset_id LIMIT 1),
                               is_owner = true
   WHERE l.system IS NULL;
  -- A batch names a few system accounts: each is looked up once (system_name <> '' lets the
  -- lookup use the partial unique index).
  WITH d AS MATERIALIZED (
    SELECT x.system, x.asset_id,
           (SELECT a.id FROM ledger_account a
             WHERE a.system_name = x.system AND a.system_name <> '' AND a.asset_id = x.asset_id) AS id
      FROM (SELECT DISTINCT system, asset_id FROM khata_batch_leg WHERE system IS NOT NULL) x
  )
  UPDATE khata_batch_leg l SET account_id = d.id, is_owner = false
    FROM d WHERE d.id IS NOT NULL AND l.system = d.system AND l.asset_id = d.asset_id;
  UPDATE khata_batch_leg SET account_id = khata_ledger_account(asset_id, coalesce(owner_type, ''),
                                                             coalesce(owner_id, ''), coalesce(system, '')),
                             is_owner = system IS NULL
   WHERE account_id IS NULL;

  -- Lock the owner accounts in id order (a statement of its own, so it always runs whole),
  -- then refuse entries whose debits exceed what is available. Only entries that claimed their key:
  -- a replayed key answers with its first outcome (below), whatever the balance is now.
  PERFORM 1 FROM ledger_account a
   WHERE a.id IN (SELECT l.account_id FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
                   WHERE l.is_owner AND e.status = 'claimed')
   ORDER BY a.id FOR NO KEY UPDATE;
  WITH short AS (
    SELECT d.ord FROM (SELECT l.ord, l.account_id, -sum(l.amount) AS need
                         FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
                        WHERE l.amount < 0 AND e.status = 'claimed' GROUP BY l.ord, l.account_id) d
      JOIN LATERAL (SELECT a.posted, a.pending, a.allow_overdraft FROM ledger_account a WHERE a.id = d.account_id
                     LIMIT 1) a ON true
     WHERE NOT a.allow_overdraft AND a.posted - a.pending < d.need
  )
  UPDATE khata_batch_entry SET status = 'refused' WHERE ord IN (SELECT ord FROM short);
  UPDATE ledger_operation SET status = 'refused', entry_id = NULL, error_code = 'insufficient_funds',
         error_message = 'The available balance is too low.'
   WHERE id IN (SELECT op_id FROM khata_batch_entry WHERE status = 'refused');
  UPDATE khata_batch_entry SET status = 'posted' WHERE status = 'claimed';

  INSERT INTO ledger_entry (id, kind, reason_type, reason_token, idempotency_type, idempotency_token, actor_type,
                            actor_id, effective_at, created_at, metadata, tags, reverses_id)
  SELECT entry_id, spec->>'kind', spec->>'reason_type', spec->>'reason_token', spec->>'idem_type', spec->>'idem_token',
         spec->>'actor_type', spec->>'actor_id', coalesce((spec->>'effective_at')::timestamptz, v_now), v_now,
         coalesce(spec->'metadata', '{}'::jsonb), coalesce(spec->'tags', '[]'::jsonb), NULL
    FROM khata_batch_entry WHERE status = 'posted' ORDER BY ord;
  INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)
  SELECT e.entry_id, l.account_id, l.asset_id, l.amount, coalesce((e.spec->>'effective_at')::timestamptz, v_now)
    FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord WHERE e.status = 'posted' ORDER BY l.ord, l.leg;

  UPDATE ledger_account a SET posted = a.posted + d.delta
    FROM (SELECT l.account_id, sum(l.amount) AS delta FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
           WHERE e.status = 'posted' AND l.is_owner GROUP BY l.account_id) d
   WHERE a.id = d.account_id;
  FOR v_spec IN
    SELECT jsonb_build_array(l.account_id, sum(l.amount)) FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
     WHERE e.status = 'posted' AND NOT l.is_owner GROUP BY l.account_id ORDER BY l.account_id
  LOOP
    UPDATE ledger_balanceshard SET posted = posted + (v_spec->>1)::bigint
     WHERE account_id = (v_spec->>0)::bigint AND shard = v_shard;
  END LOOP;

  -- Debits spend each account's lots first-in first-out (each account is in one entry only).
  WITH debit AS (
    SELECT l.account_id, -sum(l.amount) AS need, min(e.entry_id) AS entry_id
      FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
     WHERE e.status = 'posted' AND l.is_owner AND l.amount < 0 GROUP BY l.account_id
  ), open AS (
    SELECT lot.id, lot.account_id, lot.remaining,
           sum(lot.remaining) OVER (PARTITION BY lot.account_id ORDER BY lot.id) AS upto
      FROM ledger_lot lot JOIN ledger_account acc ON acc.id = lot.account_id
     WHERE lot.account_id IN (SELECT account_id FROM debit) AND lot.id >= acc.fifo_from AND lot.remaining > 0
  ), take AS (
    SELECT o.id, o.account_id, d.entry_id, least(o.remaining, d.need - (o.upto - o.remaining)) AS amount
      FROM open o JOIN debit d ON d.account_id = o.account_id WHERE o.upto - o.remaining < d.need
  ), spent AS (
    UPDATE ledger_lot lot SET remaining = lot.remaining - t.amount FROM take t WHERE lot.id = t.id RETURNING lot.id
  ), fifo AS (
    -- first-in first-out spent every lot below the last one it touched
    UPDATE ledger_account a SET fifo_from = f.last_lot
      FROM (SELECT account_id, max(id) AS last_lot FROM take GROUP BY account_id) f
     WHERE a.id = f.account_id RETURNING a.id
  )
  INSERT INTO ledger_lotconsumption (lot_id, entry_id, amount, created_at)
  SELECT id, entry_id, amount, v_now FROM take ORDER BY entry_id, id;
  -- every debit must have found lots for all of it (lots always cover a balance)
  IF EXISTS (
    SELECT 1 FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
     WHERE e.status = 'posted' AND l.is_owner AND l.amount < 0
     GROUP BY e.entry_id
    HAVING -sum(l.amount) <> (SELECT coalesce(sum(c.amount), 0) FROM ledger_lotconsumption c WHERE c.entry_id = e.entry_id)
  ) THEN
    RAISE EXCEPTION 'lots do not cover a debit in this batch' USING ERRCODE = 'check_violation';
  END IF;
  -- Credits form lots with the entry's tags, one per credit leg (as entry by entry).
  INSERT INTO ledger_lot (account_id, entry_id, amount, remaining, tags, source_lot_id, created_at)
  SELECT l.account_id, e.entry_id, l.amount, l.amount, coalesce(e.spec->'tags', '[]'::jsonb), NULL, v_now
    FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
   WHERE e.status = 'posted' AND l.is_owner AND l.amount > 0
   ORDER BY e.entry_id, l.leg;

  SELECT coalesce(jsonb_agg(
           CASE e.status
             WHEN 'posted' THEN jsonb_build_object('status', 'posted', 'entry_id', e.entry_id,
                                  'account_ids', r.account_ids, 'balances', coalesce(bal.balances, '{}'::jsonb))
             WHEN 'refused' THEN jsonb_build_object('status', 'refused', 'error_code', 'insufficient_funds',
                                  'error_message', 'The available balance is too low.')
             ELSE khata_ledger_post(e.spec)
           END ORDER BY e.ord), '[]'::jsonb)
    INTO v_out
    FROM khata_batch_entry e
    LEFT JOIN (
      SELECT l.ord, jsonb_agg(l.account_id ORDER BY l.leg) AS account_ids FROM khata_batch_leg l GROUP BY l.ord
    ) r ON r.ord = e.ord
    -- each entry reports its owner accounts' balances as they were right after it, as entry by
    -- entry would: an account credited by several entries has the later entries' credits taken off
    LEFT JOIN (
      SELECT b.ord, jsonb_object_agg(b.account_id::text, jsonb_build_array(a.posted - b.later, a.pending)) AS balances
        FROM (SELECT d.ord, d.account_id,
                     coalesce(sum(d.delta) OVER (PARTITION BY d.account_id ORDER BY d.ord
                                                 ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS later
                FROM (SELECT l.ord, l.account_id, sum(l.amount) AS delta
                        FROM khata_batch_leg l JOIN khata_batch_entry e ON e.ord = l.ord
                       WHERE l.is_owner AND e.status = 'posted' GROUP BY l.ord, l.account_id) d) b
        JOIN LATERAL (SELECT a.posted, a.pending FROM ledger_account a WHERE a.id = b.account_id LIMIT 1) a ON true
       GROUP BY b.ord
    ) bal ON bal.ord = e.ord;
  RETURN v_out;
END $$;
