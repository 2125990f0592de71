// Vigil's ward dashboard: no build step, no framework. The ward comes from GET /api/v1/ward; alerts
// and readings then arrive live over the event stream (Server-Sent Events); acknowledge and resolve
// call the REST API. With authentication on, it signs in first (the token stays in this tab).
// Everything shown is set as text (never as HTML): names and values are data.

const TOKEN_KEY = "vigil.dashboard.token"
const SIGNS = [
  ["heart_rate", "HR", ""],
  ["spo2", "SpO₂", "%"],
  ["temperature", "T", "°C"],
  ["systolic_bp", "BP", ""],
  ["respiratory_rate", "RR", "/min"]
]
const SIGN_NAMES = { heart_rate: "Heart rate", spo2: "SpO₂", temperature: "Temperature", systolic_bp: "Systolic BP", diastolic_bp: "Diastolic BP", respiratory_rate: "Respiratory rate" }

const $ = (id) => document.getElementById(id)
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value)
    else if (key in node) node[key] = value
    else node.setAttribute(key, value)
  }
  for (const child of children) node.append(child)
  return node
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  patients: new Map(), // patient_id -> { view, card, plot }
  alerts: new Map(), // alert id -> alert
  stream: null,
  windowMinutes: 60
}

const api = async (method, path, body) => {
  const headers = { accept: "application/json" }
  if (state.token) headers.authorization = `Bearer ${state.token}`
  if (body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.text()
  let json
  try { json = text ? JSON.parse(text) : undefined } catch { json = text }
  return { status: response.status, body: json }
}

const detail = (body) => (typeof body?.detail === "string" ? body.detail : JSON.stringify(body?.detail ?? body))

// ---------------------------------------------------------------------------------------------
// Signing in

const showLogin = (message = "") => {
  state.stream?.close()
  $("board").hidden = true
  $("login").hidden = false
  $("logout").hidden = true
  $("login-error").textContent = message
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  const { body, status } = await api("POST", "/api/v1/auth/login", { email: form.get("email"), password: form.get("password") })
  if (status !== 200) return void ($("login-error").textContent = detail(body) || "Sign-in failed")
  state.token = body.access_token
  sessionStorage.setItem(TOKEN_KEY, state.token)
  $("who").textContent = `${body.user.full_name} (${body.user.role})`
  void void start()
})

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY)
  state.token = null
  $("who").textContent = ""
  showLogin()
})

// ---------------------------------------------------------------------------------------------
// Patients

const formatValue = (sign, latest) => {
  if (sign === "systolic_bp") {
    const sys = latest.systolic_bp?.value
    const dia = latest.diastolic_bp?.value
    return sys === undefined && dia === undefined ? "–" : `${sys ?? "–"}/${dia ?? "–"}`
  }
  const value = latest[sign]?.value
  return value === undefined ? "–" : `${Math.round(value * 10) / 10}`
}

const renderVitals = (entry) => {
  const box = entry.card.querySelector(".vitals")
  box.replaceChildren(...SIGNS.map(([sign, label, unit]) =>
    el("span", { dataset: { sign } }, el("span", { className: "label", textContent: label }), `${formatValue(sign, entry.view.latest)}${unit}`)))
}

const sparkData = (view) => {
  const xs = view.series.minutes.map((minute) => Date.parse(minute) / 1000)
  const ys = view.series.values.heart_rate ?? view.series.values.spo2 ?? xs.map(() => null)
  return [xs, ys]
}

const renderSpark = (entry) => {
  const data = sparkData(entry.view)
  if (entry.plot) return entry.plot.setData(data)
  if (typeof uPlot === "undefined") return
  entry.plot = new uPlot({
    width: 220,
    height: 40,
    cursor: { show: false },
    legend: { show: false },
    select: { show: false },
    axes: [{ show: false }, { show: false }],
    scales: { x: { time: true } },
    series: [{}, { stroke: "#4aa3ff", width: 1.5, spanGaps: true, points: { show: false } }]
  }, data, entry.card.querySelector(".spark"))
}

const alertingOf = (patientId) => {
  let worst = ""
  for (const alert of state.alerts.values()) {
    if (alert.patient_id !== patientId || alert.status === "resolved") continue
    if (alert.severity === "critical") return "critical"
    worst = "warning"
  }
  return worst
}

const upsertPatient = (view) => {
  let entry = state.patients.get(view.patient_id)
  if (entry === undefined) {
    const card = el("article", { className: "patient", dataset: { patientId: view.patient_id } },
      el("div", { className: "name", textContent: view.name || view.patient_id }),
      el("div", { className: "vitals" }),
      el("div", { className: "spark" }))
    $("patients").append(card)
    entry = { view, card, plot: null }
    state.patients.set(view.patient_id, entry)
  } else {
    entry.view = view
  }
  renderVitals(entry)
  renderSpark(entry)
  entry.card.dataset.alerting = alertingOf(view.patient_id)
  $("patient-count").textContent = String(state.patients.size)
}

/** A stored reading, live: the latest values and this minute's point move. */
const addReadings = (patientId, readings) => {
  const entry = state.patients.get(patientId)
  if (entry === undefined) return scheduleReload()
  for (const reading of readings) {
    const minute = new Date(Math.floor(Date.parse(reading.measured_at) / 60_000) * 60_000).toISOString()
    const { minutes, values } = entry.view.series
    let i = minutes.indexOf(minute)
    if (i === -1 && (minutes.length === 0 || minute > minutes[minutes.length - 1])) {
      minutes.push(minute)
      for (const list of Object.values(values)) list.push(null)
      i = minutes.length - 1
    }
    for (const [sign] of Object.entries(SIGN_NAMES)) {
      const value = reading[sign]
      if (value === null || value === undefined) continue
      const latest = entry.view.latest[sign]
      if (latest === undefined || latest.measured_at <= reading.measured_at) entry.view.latest[sign] = { value, measured_at: reading.measured_at }
      if (i !== -1) (values[sign] ??= minutes.map(() => null))[i] = value
    }
  }
  renderVitals(entry)
  renderSpark(entry)
}

// ---------------------------------------------------------------------------------------------
// Alerts

const nameOf = (patientId) => state.patients.get(patientId)?.view.name || patientId

const act = async (alert, action) => {
  $("action-error").textContent = ""
  const { body, status } = await api("POST", `/api/v1/alerts/${alert.id}/${action}`)
  if (status === 401) return showLogin("Your session ended: sign in again")
  if (status !== 200) return void ($("action-error").textContent = `${action}: ${detail(body)}`)
  upsertAlert(body)
}

const renderAlerts = () => {
  const list = [...state.alerts.values()].sort((a, b) =>
    (a.severity === b.severity ? 0 : a.severity === "critical" ? -1 : 1) || b.created_at.localeCompare(a.created_at))
  $("alerts").replaceChildren(...list.map((alert) => {
    const buttons = []
    if (alert.status === "open") buttons.push(el("button", { type: "button", className: "acknowledge", textContent: "Acknowledge", onclick: () => act(alert, "acknowledge") }))
    buttons.push(el("button", { type: "button", className: "resolve", textContent: "Resolve", onclick: () => act(alert, "resolve") }))
    return el("li", { className: "alert", dataset: { alertId: alert.id, severity: alert.severity, status: alert.status, patientId: alert.patient_id } },
      el("div", { className: "title", textContent: `${nameOf(alert.patient_id)}: ${SIGN_NAMES[alert.vital_sign] ?? alert.vital_sign} ${alert.severity}` }),
      el("div", { className: "meta", textContent: `peak ${alert.peak} · ${alert.count} reading${alert.count === 1 ? "" : "s"} · ${alert.status} · since ${new Date(alert.first_seen).toLocaleTimeString()}` }),
      ...buttons)
  }))
  $("alert-count").textContent = String(list.length)
  $("no-alerts").hidden = list.length > 0
  for (const entry of state.patients.values()) entry.card.dataset.alerting = alertingOf(entry.view.patient_id)
}

const upsertAlert = (alert) => {
  if (alert.status === "resolved") state.alerts.delete(alert.id)
  else state.alerts.set(alert.id, alert)
  renderAlerts()
}

// ---------------------------------------------------------------------------------------------
// Loading and the live stream

let reloadTimer = null
const scheduleReload = () => {
  if (reloadTimer !== null) return
  reloadTimer = setTimeout(() => { reloadTimer = null; load() }, 1_000)
}

const load = async () => {
  const { body, status } = await api("GET", `/api/v1/ward?window_minutes=${state.windowMinutes}`)
  if (status === 401) return void showLogin(state.token ? "Your session ended: sign in again" : "")
  if (status === 403) return void showLogin("This account may not see the ward (staff only)")
  if (status !== 200) {
    $("connection").dataset.state = "down"
    $("connection").textContent = `ward unavailable (${status})`
    scheduleReload()
    return false
  }
  $("login").hidden = true
  $("board").hidden = false
  $("logout").hidden = !state.token
  $("window").textContent = `(last ${body.window_minutes} min)`
  const seen = new Set()
  state.alerts.clear()
  for (const view of body.patients) for (const alert of view.active_alerts) state.alerts.set(alert.id, alert)
  for (const view of body.patients) {
    seen.add(view.patient_id)
    upsertPatient(view)
  }
  for (const [id, entry] of state.patients) {
    if (seen.has(id)) continue
    entry.plot?.destroy()
    entry.card.remove()
    state.patients.delete(id)
  }
  renderAlerts()
  document.body.dataset.ready = "true"
  return true
}

const ALERT_EVENTS = ["raised", "updated", "acknowledged", "resolved", "escalated"]

const connect = () => {
  state.stream?.close()
  const params = new URLSearchParams({ type: "vigil.alert.*,vigil.vitals.recorded" })
  if (state.token) params.set("access_token", state.token)
  const stream = new EventSource(`/api/v1/events/stream?${params}`)
  state.stream = stream
  stream.addEventListener("open", () => {
    $("connection").dataset.state = "live"
    $("connection").textContent = "live"
    // What happened before the stream was open (or while it was down) is read again.
    load()
  })
  stream.addEventListener("error", () => {
    $("connection").dataset.state = "down"
    $("connection").textContent = stream.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting"
    // Closed for good (a refused token, say): start over, which signs in again if it must.
    if (stream.readyState === EventSource.CLOSED && state.stream === stream) setTimeout(start, 3_000)
  })
  for (const name of ALERT_EVENTS) {
    stream.addEventListener(`vigil.alert.${name}`, (message) => upsertAlert(JSON.parse(message.data).data))
  }
  stream.addEventListener("vigil.vitals.recorded", (message) => {
    const { patient_id, readings } = JSON.parse(message.data).data
    addReadings(patient_id, readings)
  })
}

const start = async () => {
  if (await load()) connect()
}

void start()
