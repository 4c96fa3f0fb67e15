# Reference fits for nonlinear mixed-effects models (mejax.menl) from R's nlme (Lindstrom-Bates).
# Run from the repository root:
#   Rscript tests/reference/make_refs_menl.R
# Writes mejax/datasets/data/{orange,soybean,loblolly,theoph}.csv (nlme's data sets, columns as
# in R) and tests/reference/menl/*.json (one case per fit: loglik, fixed effects and their SEs,
# random-effect covariance matrices per level, residual sd, variance-function parameters,
# fitted values and random effects). Tight convergence controls (or, where nlme's PNLS step
# halving fails with them, looser ones) so the fixed point is found well below the test
# tolerances. nlme's method = "REML" keeps the ML theta and fixed effects and only rescales
# sigma^2 by N/(N - p); its REML log likelihood is the linearised REML criterion at those
# values (checked at the end of this script from a different start).
suppressPackageStartupMessages({ library(nlme); library(jsonlite) })

data_dir <- file.path("mejax", "datasets", "data")
out_dir <- file.path("tests", "reference", "menl")
sw <- paste("R", getRversion(), "nlme", packageDescription("nlme")$Version)

write.csv(as.data.frame(Orange), file.path(data_dir, "orange.csv"), row.names = FALSE)
write.csv(as.data.frame(Soybean), file.path(data_dir, "soybean.csv"), row.names = FALSE)
write.csv(as.data.frame(Loblolly), file.path(data_dir, "loblolly.csv"), row.names = FALSE)
write.csv(as.data.frame(Theoph), file.path(data_dir, "theoph.csv"), row.names = FALSE)

ctl <- nlmeControl(maxIter = 500, pnlsMaxIter = 50, msMaxIter = 500, tolerance = 1e-9,
                   pnlsTol = 1e-10, msTol = 1e-12, niterEM = 0, msMaxEval = 2000)

# nlme with the tight controls, or (when its PNLS step halving fails there) looser ones
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
  f <- do.call(nlme, args)
  attr(f, "tight") <- NA
  f
}

re_cov <- function(fit) {
  # covariance matrix of the random effects at each level (variances, not relative)
  s2 <- fit$sigma^2
  mats <- pdMatrix(fit$modelStruct$reStruct)
  lapply(mats, function(m) list(names = rownames(m), cov = unname(m * s2)))
}
ranef_list <- function(fit) {
  r <- ranef(fit)
  if (is.data.frame(r)) r <- list(r)
  names(r) <- if (is.null(names(r))) names(fit$groups) else names(r)
  lapply(r, function(d) list(groups = rownames(d), names = colnames(d), values = unname(as.matrix(d))))
}

save_case <- function(id, fit, data, model) {
  vf <- fit$modelStruct$varStruct
  ref <- list(
    software = sw, method = fit$method, tight_control = attr(fit, "tight"),
    loglik = as.numeric(logLik(fit)),
    fixef = as.list(fixef(fit)),
    fixef_se = as.list(sqrt(diag(fit$varFix))),
    sigma = fit$sigma,
    re_cov = re_cov(fit),
    varfunc = if (is.null(vf)) NULL else as.list(coef(vf, unconstrained = FALSE)),
    fitted = unname(fitted(fit)),
    ranef = ranef_list(fit),
    nobs = nobs(fit))
  case <- list(id = id, data = data, model = model, reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
        file.path(out_dir, paste0(id, ".json")))
  cat(id, ": loglik", ref$loglik, "\n")
}

logis <- function(Asym, xmid, scal, x) Asym / (1 + exp(-(x - xmid) / scal))

for (m in c("ML", "REML")) {
  f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = Orange,
            fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
            start = c(Asym = 192, xmid = 728, scal = 353), method = m)
  save_case(paste0("orange_", tolower(m)), f, "orange.csv",
            list(stata = "menl circumference = {phi1:}/(1+exp(-(age-{b2})/{b3})), define(phi1: {b1}+{U[Tree]})",
                 start = list(b1 = 192, b2 = 728, b3 = 353)))

  f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
            fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
            start = c(Asym = 19, xmid = 55, scal = 8), method = m)
  save_case(paste0("soybean_", tolower(m)), f, "soybean.csv",
            list(stata = "menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})), define(phi1: {b1}+{U[Plot]})",
                 start = list(b1 = 19, b2 = 55, b3 = 8)))
}

# the seed's random slope for variety: phi1 = b10 + U0 + (b11 + U1) * variety, U0, U1 independent
soy <- Soybean
f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = soy,
          fixed = list(Asym ~ Variety, xmid ~ 1, scal ~ 1),
          random = list(Plot = pdDiag(Asym ~ Variety)),
          start = c(19, 0, 55, 8), method = "ML")
save_case("soybean_variety_ml", f, "soybean.csv",
          list(stata = "menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})), define(phi1: {b10}+{U0[Plot]}+{b11}*variety+{1.variety#U1[Plot]})",
               start = list(b10 = 19, b11 = 0, b2 = 55, b3 = 8)))

# two-level nesting: plots within years (the seed's zones), random Asym and xmid at both levels
f <- try(fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = Asym + xmid + scal ~ 1,
              random = list(Year = pdDiag(Asym + xmid ~ 1), Plot = pdDiag(Asym + xmid ~ 1)),
              start = c(Asym = 19, xmid = 55, scal = 8), method = "ML"))
if (inherits(f, "try-error")) {
  f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
            fixed = Asym + xmid + scal ~ 1, random = list(Year = Asym ~ 1, Plot = Asym ~ 1),
            start = c(Asym = 19, xmid = 55, scal = 8), method = "ML")
}
save_case("soybean_nested_ml", f, "soybean.csv", list(nested = names(f$groups)))

for (m in c("ML", "REML")) {
  f <- fit_nlme(height ~ Asym + (R0 - Asym) * exp(-exp(lrc) * age), data = Loblolly,
            fixed = Asym + R0 + lrc ~ 1, random = Asym ~ 1 | Seed,
            start = c(Asym = 103, R0 = -8.5, lrc = -3.3), method = m)
  save_case(paste0("loblolly_", tolower(m)), f, "loblolly.csv",
            list(stata = "menl height = {b1}+{U[Seed]}+({b2}-{b1}-{U[Seed]})*exp(-exp({b3})*age)",
                 start = list(b1 = 103, b2 = -8.5, b3 = -3.3)))
}

fol <- conc ~ Dose * exp(lKe + lKa - lCl) * (exp(-exp(lKe) * Time) - exp(-exp(lKa) * Time)) /
  (exp(lKa) - exp(lKe))
st <- c(lKe = -2.4, lKa = 0.45, lCl = -3.2)
for (m in c("ML", "REML")) {
  f <- fit_nlme(fol, data = Theoph, fixed = lKe + lKa + lCl ~ 1,
            random = pdDiag(lCl + lKa ~ 1), groups = ~Subject, start = st, method = m)
  save_case(paste0("theoph_", tolower(m)), f, "theoph.csv", list(start = as.list(st)))
}
# power-of-the-mean residual variances (nlme's varPower / varConstPower of fitted(.), Stata's
# resvariance(power _yhat[, noconstant])). nlme stops on Theoph with either ("step halving factor
# reduced below minimum in PNLS step"), so these are on Soybean, the nlme book's example.
for (vf in c("power", "constpower")) {
  w <- if (vf == "power") varPower(form = ~fitted(.)) else varConstPower(form = ~fitted(.))
  f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
                fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
                start = c(Asym = 19, xmid = 55, scal = 8), method = "ML", weights = w)
  save_case(paste0("soybean_", vf, "_ml"), f, "soybean.csv",
            list(resvariance = if (vf == "power") "power _yhat, noconstant" else "power _yhat"))
}

# the variety slope with a power-of-the-mean residual variance in one fit (Stata:
# define(phi1: U0[Plot] variety 1.variety#U1[Plot]) resvariance(power _yhat, noconstant))
f <- fit_nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = Soybean,
              fixed = list(Asym ~ Variety, xmid ~ 1, scal ~ 1),
              random = list(Plot = pdDiag(Asym ~ Variety)), weights = varPower(form = ~fitted(.)),
              start = c(19, 0, 55, 8), method = "ML")
save_case("soybean_variety_power_ml", f, "soybean.csv",
          list(stata = paste("menl weight = {phi1:}/(1+exp(-(Time-{b2})/{b3})),",
                             "define(phi1: U0[Plot] variety 1.variety#U1[Plot])",
                             "resvariance(power _yhat, noconstant)")))
# nlme's REML is the ML fit with the restricted criterion at its fixed point: checked here
# from a start away from the ML estimates (the same theta and beta, sigma^2 times N/(N-p))
ml <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = Orange,
               fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
               start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")
re <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = Orange,
               fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
               start = c(Asym = 170, xmid = 700, scal = 300), method = "REML")
cat("REML/ML relative variance:", (VarCorr(re)[1, 1] |> as.numeric()) / re$sigma^2,
    (VarCorr(ml)[1, 1] |> as.numeric()) / ml$sigma^2, " sigma^2 ratio:",
    re$sigma^2 / ml$sigma^2, "N/(N-p):", 35 / 32, "\n")

# a second random effect (on scal) for lrtest against orange_ml: nlme's anova() of the two
f <- fit_nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = Orange,
              fixed = Asym + xmid + scal ~ 1, random = pdDiag(Asym + scal ~ 1), groups = ~Tree,
              start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")
save_case("orange_two_ml", f, "orange.csv",
          list(stata = paste("menl circumference = {phi1:}/(1+exp(-(age-{b2})/{phi3:})),",
                             "define(phi1: {b1}+{U[Tree]}) define(phi3: {b3}+{V[Tree]})")))
