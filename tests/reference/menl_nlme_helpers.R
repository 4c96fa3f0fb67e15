# Helpers of the menl reference scripts (make_refs_menl_resid.R, make_refs_menl_reml.R):
# nlme fits with tight controls, and a case written as tests/reference/menl/<id>.json.
suppressPackageStartupMessages({ library(nlme); library(jsonlite) })

out_dir <- file.path("tests", "reference", "menl")
sw <- paste("R", getRversion(), "nlme", packageDescription("nlme")$Version)
ctl <- nlmeControl(maxIter = 500, pnlsMaxIter = 50, msMaxIter = 500, tolerance = 1e-9,
                   pnlsTol = 1e-10, msTol = 1e-12, niterEM = 0, msMaxEval = 2000)
ctl_loose <- nlmeControl(maxIter = 500, pnlsMaxIter = 20, msMaxIter = 500, tolerance = 1e-7,
                         pnlsTol = 1e-6, msTol = 1e-10, niterEM = 0)
fit_nlme <- function(...) {
  args <- list(...)
  for (control in list(ctl, ctl_loose)) {
    f <- try(do.call(nlme, c(args, list(control = control))), silent = TRUE)
    if (!inherits(f, "try-error")) {
      attr(f, "tight") <- identical(control, ctl)
      return(f)
    }
  }
  stop("nlme did not converge: ", f)
}

# nlme's unconstrained scale u(rho) of each correlation structure used here, and u'(rho)
cor_scale <- function(cs, rho) {
  # corAR1, and corARMA of order one (nlme's ARMA_constCoef: theta = tanh(u / 2))
  if (inherits(cs, "corAR1") || inherits(cs, "corARMA"))
    return(list(u = log((1 + rho) / (1 - rho)), du = 2 / (1 - rho^2)))
  if (inherits(cs, "corCAR1")) return(list(u = log(rho / (1 - rho)), du = 1 / (rho * (1 - rho))))
  m <- max(table(getGroups(cs)))  # corCompSymm: log((rho + 1/(m-1)) / (1 - rho))
  a <- 1 / (m - 1)
  list(u = log((rho + a) / (1 - rho)), du = 1 / (rho + a) + 1 / (1 - rho))
}
cor_se <- function(fit) {
  cs <- fit$modelStruct$corStruct
  ci <- intervals(fit, which = "var-cov")$corStruct[1, ]
  lo <- cor_scale(cs, ci[["lower"]])$u
  hi <- cor_scale(cs, ci[["upper"]])$u
  (hi - lo) / (2 * qnorm(0.975)) / cor_scale(cs, ci[["est."]])$du
}

save_case <- function(id, fit, data, stata) {
  vf <- fit$modelStruct$varStruct
  cs <- fit$modelStruct$corStruct
  s2 <- fit$sigma^2
  mats <- pdMatrix(fit$modelStruct$reStruct)
  ref <- list(
    software = sw, method = fit$method, tight_control = attr(fit, "tight"),
    loglik = as.numeric(logLik(fit)),
    fixef = as.list(fixef(fit)),
    fixef_se = as.list(sqrt(diag(fit$varFix))),
    sigma = fit$sigma,
    re_cov = lapply(mats, function(m) list(names = rownames(m), cov = unname(m * s2))),
    varfunc = if (is.null(vf)) NULL else as.list(coef(vf, unconstrained = FALSE)),
    corfunc = if (is.null(cs)) NULL else as.list(coef(cs, unconstrained = FALSE)),
    # the correlation's standard error from nlme's apVar interval (built on nlme's
    # unconstrained scale u, transformed back: se = (u(upper) - u(lower)) / (2 z u'(rho)))
    corfunc_se = if (is.null(cs)) NULL else cor_se(fit),
    # nlme's apVar standard errors (log sd of each random effect, the correlation and
    # variance-function parameters on nlme's unconstrained scale, lSigma = log sigma)
    apvar_se = if (is.character(fit$apVar)) NULL else as.list(sqrt(diag(fit$apVar))),
    fitted = unname(fitted(fit)),
    nobs = nobs(fit))
  case <- list(id = id, data = data, stata = stata, reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
        file.path(out_dir, paste0(id, ".json")))
  cat(id, ": loglik", ref$loglik, " tight:", attr(fit, "tight"), "\n")
}

