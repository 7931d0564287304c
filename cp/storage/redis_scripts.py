"""The Lua scripts behind every Redis write: one script per write, validate then write.

Redis never rolls a script back, so each script checks everything (epoch, version
floor, existence, preconditions) before its first write.  All keys of a resource type
share its hash tag, so each script touches one Redis Cluster slot.

KEYS: 1 rev counter, 2 object hash, 3 event stream, 4 epoch.
ARGV: 1 epoch, 2 lowest revision this process has seen, 3 history length,
      4 history age (ms), then the operation's own arguments.
A stored value is "<rv> <uid>\\n<json>"; a stream entry is t, e, k, v (time in ms,
event type, key, value) with ID "<rv>-0", so stream IDs are resourceVersions.
Errors are "CP<CODE> <detail>" replies, turned into storage errors by the store.
"""

from __future__ import annotations

_PRELUDE = """
local function guard()
  local epoch = redis.call('GET', KEYS[4])
  if epoch ~= ARGV[1] then
    return 'CPEPOCH ' .. tostring(epoch)
  end
  local rev = tonumber(redis.call('GET', KEYS[1]) or '0')
  if rev < tonumber(ARGV[2]) then
    return 'CPOLDER ' .. rev
  end
  return nil
end

local function split(value)
  local rv, uid, pos = string.match(value, '^(%d+) ([^\\n]*)\\n()')
  return rv, uid, string.sub(value, pos)
end

local function append(kind, key, value, rev)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XADD', KEYS[3], 'MAXLEN', '=', ARGV[3], rev .. '-0',
             't', now, 'e', kind, 'k', key, 'v', value)
  local cutoff = now - tonumber(ARGV[4])
  local head = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
  if #head > 0 and tonumber(head[1][2][2]) < cutoff then
    local batch = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 256)
    local keep = nil
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][2]) >= cutoff then keep = entry[1] break end
    end
    if keep == nil then
      local last = batch[#batch][1]
      keep = (tonumber(string.match(last, '^(%d+)')) + 1) .. '-0'
    end
    redis.call('XTRIM', KEYS[3], 'MINID', '=', keep)
  end
end

local function check(current, want_rv, want_uid)
  local rv, uid = split(current)
  if want_uid ~= '' and uid ~= want_uid then
    return 'CPUID ' .. uid
  end
  if want_rv ~= '' and rv ~= want_rv then
    return 'CPRV ' .. rv
  end
  return nil
end
"""

# ARGV 5 key, 6 uid, 7 data. Returns the new revision.
CREATE = (
    _PRELUDE
    + """
local err = guard()
if err then return redis.error_reply(err) end
if redis.call('HEXISTS', KEYS[2], ARGV[5]) == 1 then
  return redis.error_reply('CPEXISTS')
end
local rev = redis.call('INCR', KEYS[1])
local value = rev .. ' ' .. ARGV[6] .. '\\n' .. ARGV[7]
redis.call('HSET', KEYS[2], ARGV[5], value)
append('ADDED', ARGV[5], value, rev)
return rev
"""
)

# ARGV 5 key, 6 expected rv or '', 7 expected uid or '', 8 data. Returns {rev, uid}.
UPDATE = (
    _PRELUDE
    + """
local err = guard()
if err then return redis.error_reply(err) end
local current = redis.call('HGET', KEYS[2], ARGV[5])
if not current then return redis.error_reply('CPNOTFOUND') end
err = check(current, ARGV[6], ARGV[7])
if err then return redis.error_reply(err) end
local _, uid = split(current)
local rev = redis.call('INCR', KEYS[1])
local value = rev .. ' ' .. uid .. '\\n' .. ARGV[8]
redis.call('HSET', KEYS[2], ARGV[5], value)
append('MODIFIED', ARGV[5], value, rev)
return {rev, uid}
"""
)

# ARGV 5 key, 6 expected rv or '', 7 expected uid or ''. Returns the deleted value at
# the delete's revision.
DELETE = (
    _PRELUDE
    + """
local err = guard()
if err then return redis.error_reply(err) end
local current = redis.call('HGET', KEYS[2], ARGV[5])
if not current then return redis.error_reply('CPNOTFOUND') end
err = check(current, ARGV[6], ARGV[7])
if err then return redis.error_reply(err) end
local _, uid, data = split(current)
local rev = redis.call('INCR', KEYS[1])
local value = rev .. ' ' .. uid .. '\\n' .. data
redis.call('HDEL', KEYS[2], ARGV[5])
append('DELETED', ARGV[5], value, rev)
return value
"""
)

# ARGV 5 key. Returns the stored value or false.
GET = (
    _PRELUDE
    + """
local err = guard()
if err then return redis.error_reply(err) end
return redis.call('HGET', KEYS[2], ARGV[5])
"""
)

# Returns {rev, flat hash}: one consistent snapshot.
LIST = (
    _PRELUDE
    + """
local err = guard()
if err then return redis.error_reply(err) end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('HGETALL', KEYS[2])}
"""
)

# Returns {rev, first retained stream id or false}: what a tail needs to prove its
# position is still valid.
STATE = (
    _PRELUDE
    + """
local err = guard()
if err then return redis.error_reply(err) end
local head = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local first = false
if #head > 0 then first = head[1][1] end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), first}
"""
)

# Binds a resource type to this Redis's epoch the first time any server uses it.
# KEYS 1 rev, 4 epoch; ARGV 1 epoch. A type that has data but no epoch, or another
# epoch, belongs to a different history: refuse.
BIND = """
local epoch = redis.call('GET', KEYS[4])
if epoch == ARGV[1] then return 1 end
if epoch then return redis.error_reply('CPEPOCH ' .. epoch) end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('CPEPOCH none') end
redis.call('SET', KEYS[4], ARGV[1])
return 1
"""
