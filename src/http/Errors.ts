/**
 * The HTTP error answers, each a yieldable error whose wire form is FastAPI's `{"detail": ...}`
 * and whose status travels with its schema, so the server and the OpenAPI document agree. The
 * domain's infrastructure errors answer on every route (`Api.ts` declares them on the whole API):
 * `Unavailable` is 503 (with `Retry-After`), `DataRefused` a 422 naming what refused the data.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Schema } from "effect"
import { DataRefused, Unavailable } from "../domain/Errors.ts"
import { ValidationErrorBody } from "../domain/ValidationDetail.ts"

const DetailBody = Schema.Struct({ detail: Schema.String })

const detailError = <Self extends { readonly detail: string }, I>(
  errorClass: Schema.Schema<Self, I> & {
    new(props: { readonly detail: string }): Self
  },
  status: number,
  description: string
) =>
  Schema.transform(DetailBody, Schema.typeSchema(errorClass), {
    strict: true,
    decode: (body) => new errorClass({ detail: body.detail }),
    encode: (error) => ({ detail: error.detail })
  }).annotations(HttpApiSchema.annotations({ status, description }))

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { detail: Schema.String }) {}
export const NotFoundResponse = detailError(NotFound, 404, "No such record")

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { detail: Schema.String }) {}
export const ConflictResponse = detailError(Conflict, 409, "The request conflicts with an existing record")

export const UnavailableResponse = Schema.transform(DetailBody, Schema.typeSchema(Unavailable), {
  strict: true,
  decode: (body) => new Unavailable({ reason: body.detail }),
  encode: (error) => ({ detail: `Service unavailable: ${error.reason}; retry later` })
}).annotations({
  identifier: "ServiceUnavailable",
  ...HttpApiSchema.annotations({
    status: 503,
    description: "A dependency (the database, an actor) is unavailable; nothing was done. Retry after `Retry-After` seconds."
  })
})

export const DataRefusedResponse = Schema.transform(ValidationErrorBody, Schema.typeSchema(DataRefused), {
  strict: true,
  decode: (body) => new DataRefused({ reason: body.detail[0]?.msg ?? "", sqlState: "22000" }),
  encode: (error) => ({
    detail: [{
      type: "value_error",
      loc: error.column !== undefined ? ["body", error.column] : ["body"],
      msg: `Value error, the database refused the data: ${error.reason}`
    }]
  })
}).annotations(HttpApiSchema.annotations({ status: 422, description: "The database refused the data" }))

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", { detail: Schema.String }) {}
export const BadRequestResponse = detailError(BadRequest, 400, "The request breaks a rule of the record it names")

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", { detail: Schema.String }) {}
export const UnauthorizedResponse = detailError(Unauthorized, 401, "Who is calling is not known")

export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", { detail: Schema.String }) {}
export const ForbiddenResponse = detailError(Forbidden, 403, "The caller may not do this")

/** A field whose value is well-formed but refers to something that does not fit (a doctor where a patient must be). */
export class InvalidField extends Schema.TaggedError<InvalidField>()("InvalidField", {
  field: Schema.String,
  message: Schema.String,
  input: Schema.Unknown
}) {}

export const InvalidFieldResponse = Schema.transform(ValidationErrorBody, Schema.typeSchema(InvalidField), {
  strict: true,
  decode: (body) => new InvalidField({ field: String(body.detail[0]?.loc.at(-1) ?? ""), message: body.detail[0]?.msg ?? "", input: body.detail[0]?.input }),
  encode: (error) => ({ detail: [{ type: "value_error", loc: ["body", error.field], msg: `Value error, ${error.message}`, input: error.input }] })
}).annotations(HttpApiSchema.annotations({ status: 422, description: "A field names something that does not fit" }))

/** Too many attempts; `Retry-After` (from `retryAfterSeconds`) says when to come back. */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()("TooManyRequests", {
  detail: Schema.String,
  retryAfterSeconds: Schema.Number
}) {}
export const TooManyRequestsResponse = Schema.transform(DetailBody, Schema.typeSchema(TooManyRequests), {
  strict: true,
  decode: (body) => new TooManyRequests({ detail: body.detail, retryAfterSeconds: 0 }),
  encode: (error) => ({ detail: error.detail })
}).annotations(HttpApiSchema.annotations({ status: 429, description: "Too many attempts; retry after `Retry-After` seconds" }))
