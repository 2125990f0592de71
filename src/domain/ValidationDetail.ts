/**
 * Turns a Schema `ParseError` into FastAPI's 422 body: `{"detail": [{type, loc, msg, input}]}`,
 * one entry per failing field, `loc` starting with where the value came from ("body", "path",
 * "query", "header"). Rule types and messages come from the annotations in `domain/Validation.ts`.
 */
import { Schema, type ParseResult, SchemaAST } from "effect"
import { errorType } from "./Validation.ts"

export type Location = "body" | "path" | "query" | "header"

export interface ErrorDetail {
  readonly type: string
  readonly loc: ReadonlyArray<string | number>
  readonly msg: string
  readonly input?: unknown
}

export const ErrorDetailSchema = Schema.Struct({
  type: Schema.String,
  loc: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  msg: Schema.String,
  input: Schema.optional(Schema.Unknown)
}).annotations({ identifier: "ValidationErrorDetail" })

export const ValidationErrorBody = Schema.Struct({
  detail: Schema.Array(ErrorDetailSchema)
}).annotations({ identifier: "HTTPValidationError", description: "The request is invalid; each entry names a field" })

const annotatedMessage = (ast: SchemaAST.AST, issue: ParseResult.ParseIssue): string | undefined => {
  const annotation = SchemaAST.getMessageAnnotation(ast)
  if (annotation._tag === "None") return undefined
  const message = annotation.value(issue)
  if (typeof message === "string") return message
  if (typeof message === "object" && message !== null && "message" in message && typeof message.message === "string") {
    return message.message
  }
  return undefined
}

const fallbackType = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "string_type"
    case "NumberKeyword":
      return "float_type"
    case "BooleanKeyword":
      return "bool_type"
    case "TypeLiteral":
      return "model_attributes_type"
    case "TupleType":
      return "list_type"
    case "Literal":
    case "Union":
      return "literal_error"
    default:
      return "value_error"
  }
}

const fallbackMessage = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "Input should be a valid string"
    case "NumberKeyword":
      return "Input should be a valid number"
    case "BooleanKeyword":
      return "Input should be a valid boolean"
    case "TypeLiteral":
      return "Input should be a valid dictionary or object to extract fields from"
    case "TupleType":
      return "Input should be a valid list"
    case "Literal":
      return `Input should be ${JSON.stringify(ast.literal)}`
    case "Union": {
      const literals = ast.types.flatMap((member) => (member._tag === "Literal" ? [JSON.stringify(member.literal)] : []))
      return literals.length === ast.types.length ? `Input should be ${literals.join(" or ")}` : "Input is not valid"
    }
    default:
      return "Input is not valid"
  }
}

const pointerKeys = (pointer: ParseResult.Pointer): Array<string | number> => {
  const keys: ReadonlyArray<PropertyKey> = Array.isArray(pointer.path) ? pointer.path : [pointer.path as PropertyKey]
  return keys.map((key) => (typeof key === "symbol" ? String(key) : key))
}

/** The innermost explanation a filter gave for itself, e.g. a cross-field rule's message and path. */
const explain = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<string | number>
): { readonly path: ReadonlyArray<string | number>; readonly message?: string; readonly actual: unknown } => {
  if (issue._tag === "Pointer") {
    return explain(issue.issue, [...path, ...pointerKeys(issue)])
  }
  if (issue._tag === "Type" && issue.message !== undefined) return { path, message: issue.message, actual: issue.actual }
  return { path, actual: issue.actual }
}

const isAbsentMember = (issue: ParseResult.ParseIssue): boolean =>
  issue._tag === "Type" &&
  (issue.ast._tag === "UndefinedKeyword" || (issue.ast._tag === "Literal" && issue.ast.literal === null))

const collect = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<string | number>,
  out: Array<ErrorDetail>
): void => {
  switch (issue._tag) {
    case "Pointer": {
      return collect(issue.issue, [...path, ...pointerKeys(issue)], out)
    }
    case "Composite": {
      const type = errorType(issue.ast)
      if (type !== undefined) {
        out.push({ type, loc: path, msg: annotatedMessage(issue.ast, issue) ?? fallbackMessage(issue.ast), input: issue.actual })
        return
      }
      const issues: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues)
        ? issue.issues
        : [issue.issues as ParseResult.ParseIssue]
      // `optional`/`NullOr` add undefined/null members to a union; like pydantic, report only
      // why the value failed the member it was meant for.
      const meaningful = issue.ast._tag === "Union" ? issues.filter((inner) => !isAbsentMember(inner)) : issues
      for (const inner of meaningful.length > 0 ? meaningful : issues) collect(inner, path, out)
      return
    }
    case "Refinement": {
      if (issue.kind === "From") return collect(issue.issue, path, out)
      const explained = explain(issue.issue, path)
      out.push({
        type: errorType(issue.ast) ?? "value_error",
        loc: explained.path,
        msg: explained.message ?? annotatedMessage(issue.ast, issue) ?? "Value error",
        input: explained.path.length === path.length ? issue.actual : explained.actual
      })
      return
    }
    case "Transformation": {
      if (issue.kind !== "Transformation") return collect(issue.issue, path, out)
      const explained = explain(issue.issue, path)
      out.push({
        type: errorType(issue.ast) ?? "value_error",
        loc: explained.path,
        msg: explained.message ?? annotatedMessage(issue.ast, issue) ?? "Value error",
        input: issue.actual
      })
      return
    }
    case "Type": {
      out.push({
        type: errorType(issue.ast) ?? fallbackType(issue.ast),
        loc: path,
        msg: annotatedMessage(issue.ast, issue) ?? issue.message ?? fallbackMessage(issue.ast),
        input: issue.actual
      })
      return
    }
    case "Missing":
      out.push({ type: "missing", loc: path, msg: "Field required" })
      return
    case "Unexpected":
      out.push({ type: "extra_forbidden", loc: path, msg: "Extra inputs are not permitted", input: issue.actual })
      return
    case "Forbidden":
      out.push({ type: "value_error", loc: path, msg: issue.message ?? "Value is not allowed", input: issue.actual })
      return
  }
}

export const fromParseIssue = (location: Location, issue: ParseResult.ParseIssue): Array<ErrorDetail> => {
  const out: Array<ErrorDetail> = []
  collect(issue, [location], out)
  return out
}
