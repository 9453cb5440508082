"""The booking service's HTTP handlers, a module per audience: `public` (customers: the catalogue, availability,
holds, booking), `manage` (a booking's signed manage link), `clinic` (the clinic API, scoped to the clinic whose
key the gateway checked) and `internal` (the gateway's own calls). A handler parses the request, calls a use case
(services.booking.service) or a read (services.booking.reads), and shapes the answer; `context` is what they take
from the request and the app, `serialise` the JSON shapes more than one audience shows."""
