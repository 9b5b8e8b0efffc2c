-- Argo CD health check for apps.dbrest.io Deployment and DatabaseAPI.
-- Both kinds report the kstatus trio (Ready, Reconciling, Stalled) with one
-- reason on every condition; docs/conditions.md lists the reasons.
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }

if obj.status == nil then
  return hs
end

-- Conditions written for an older spec say nothing about the current one.
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready, reconciling, stalled
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Reconciling" then
      reconciling = c
    elseif c.type == "Stalled" then
      stalled = c
    end
  end
end

if ready == nil then
  return hs
end

-- A Deployment's next call held back (ObserveOnly, an adoption refused, a
-- Conflict, an open circuit, suspend) is named after the message, so the
-- Argo CD view says what the operator would do.
local held = ""
local plan = obj.status.plan
if plan ~= nil and plan.blockedBy ~= nil and plan.blockedBy ~= "" then
  held = " [plan: " .. (plan.operation or "?") .. ", held back by " .. plan.blockedBy .. "]"
end

local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if message == "" then
    return reason .. held
  end
  return reason .. ": " .. message .. held
end

if ready.reason == "Suspended" then
  hs.status = "Suspended"
elseif stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling)
  return hs
elseif ready.status == "True" then
  hs.status = "Healthy"
end
hs.message = describe(ready)
return hs
