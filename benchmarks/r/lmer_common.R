# Shared helpers for the lme4 benchmark drivers: argument parsing, timing, one-line JSON output.
suppressPackageStartupMessages({
  library(lme4); library(jsonlite)
})

# Positional argument `i` (1-based) or `default` when absent; stops when there is no default.
arg <- function(i, default = NULL) {
  a <- commandArgs(trailingOnly = TRUE)
  if (length(a) >= i) return(a[[i]])
  if (is.null(default)) stop("missing argument ", i, call. = FALSE)
  default
}

# Wall-clock seconds taken by evaluating `expr`; the value is kept in attribute "value".
elapsed <- function(expr) {
  t0 <- Sys.time()
  value <- expr
  structure(as.numeric(difftime(Sys.time(), t0, units = "secs")), value = value)
}

emit <- function(...) {
  cat(toJSON(list(...), auto_unbox = TRUE, digits = NA), "\n", sep = "")
}

lme4_version <- function() as.character(packageVersion("lme4"))
