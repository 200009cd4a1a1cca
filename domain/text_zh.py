"""zh-CN (Simplified Chinese) for every English template of people's text, keyed by the
English text itself (domain/text.py). tests/domain/test_text_catalog.py fails when a template
in the code has no entry here, when an entry's {placeholders} differ from its key's, or when
an entry is no longer used.

Terms: 返利 rebate, 计提 accrual, 基数 basis, 档位/门槛 tier/threshold, 返利标准 rate,
累计补差 year-to-date true-up, 考核评分 scorecard, 系数 multiplier, 扣减 deduction, 封顶 cap,
取消返利 forfeiture, 追回 clawback/reclaim, 客户分类 segment, 返利政策 program, 关账 close.
"""

ZH_CN: dict[str, str] = {
    '{cumulative} − {earlier} = {gross}':
        '{cumulative} − {earlier} = {gross}',
    'Rebate on cumulative basis':
        '按累计基数计算的返利',
    'Gross rebate':
        '返利毛额',
    'none: {amount}':
        '无：{amount}',
    'Basis {period}':
        '{period} 基数',
    'Gross of earlier periods':
        '此前各期毛额',
    '{listed}':
        '{listed}',
    'Gross (true-up)':
        '本期毛额（累计补差）',
    'Cumulative basis':
        '累计基数',
    '{amount} ({period})':
        '{amount}（{period}）',
    'net sales':
        '净销售额',
    'net quantity':
        '净销量',
    'collected cash':
        '回款额',
    'months':
        '个月',
    'quarters':
        '个季度',
    'years':
        '年',
    ("Dealer {dealer}'s {basis_kind} in program {program} for {period} is {basis}, "
     '{ratio}× its average of {average} over the previous three {periods} ({history}). '
     'A sudden jump like this can be stock pushed into the channel or orders merged '
     'into one period; please check before the accrual is approved.'):
        ('经销商 {dealer} 在返利政策 {program} 中 {period} 的{basis_kind}为 '
         '{basis}，是前三{periods}平均值 {average} 的 {ratio} '
         '倍（{history}）。如此突然的增长可能是向渠道压货，或把订单合并到同一期间；请在批准'
         '计提前核实。'),
    ("{count} sales were reported as delivered to {places}, outside dealer {dealer}'s "
     'region {region}. This may be cross-region selling (窜货); please check with the '
     'dealer before recording a violation.'):
        ('有 {count} 笔销售申报发往 {places}，超出经销商 {dealer} 的所属区域 '
         '{region}。这可能是跨区域销售（窜货）；记录违规前请先与经销商核实。'),
    ("1 sale was reported as delivered to {places}, outside dealer {dealer}'s region "
     '{region}. This may be cross-region selling (窜货); please check with the dealer '
     'before recording a violation.'):
        ('有 1 笔销售申报发往 {places}，超出经销商 {dealer} 的所属区域 '
         '{region}。这可能是跨区域销售（窜货）；记录违规前请先与经销商核实。'),
    '{period}: {basis}':
        '{period}：{basis}',
    'net sales (invoices − returns)':
        '净销售额（开票 − 退货）',
    'net units (invoiced − returned)':
        '净销量（开票 − 退货）',
    'cash collected':
        '回款额',
    '{left} − {right}':
        '{left} − {right}',
    '{left} + {right}':
        '{left} + {right}',
    '{count} units':
        '{count} 件',
    'a lump sum of {amount}':
        '一次性奖励 {amount}',
    '= {exact} → {rounded} (rounded half up to the cent)':
        '= {exact} → {rounded}（四舍五入到分）',
    '{basis} {window}: {value}':
        '{basis}，{window}：{value}',
    '{size} × {rate}':
        '{size} × {rate}',
    'Slice from {low} to {high}':
        '区间 {low} 至 {high}',
    'Slice from {low}':
        '区间 {low} 以上',
    '{amount} per unit':
        '每件 {amount}',
    '= {amount}':
        '= {amount}',
    'default terms':
        '默认条款',
    'Terms':
        '适用条款',
    'Tier reached':
        '达到档位',
    '{basis} ≥ threshold {threshold}: rate {rate}':
        '{basis} ≥ 门槛 {threshold}：返利标准 {rate}',
    'lump sum for reaching {threshold}':
        '达到 {threshold} 的一次性奖励',
    'none: {basis} is below the first threshold {threshold}':
        '未达到：{basis} 低于首档门槛 {threshold}',
    'no tier reached: {amount}':
        '未达到任何档位：{amount}',
    '{product} {rounding}':
        '{product} {rounding}',
    '1 transaction of {period} in {currencies}: this program counts {currency} only':
        '{period} 有 1 笔 {currencies} 交易：本政策只计 {currency}',
    ('{count} transactions of {period} in {currencies}: this program counts {currency} '
     'only'):
        '{period} 有 {count} 笔 {currencies} 交易：本政策只计 {currency}',
    'Not counted (currency)':
        '未计入（币种）',
    'On hold':
        '暂缓',
    'Late data':
        '迟到数据',
    ('the cumulative basis includes transactions recorded after their period was closed '
     '({listed}); this true-up absorbs them'):
        '累计基数包含所属期间关账后才录入的交易（{listed}）；由本期补差一并处理',
    '{count} for {period}':
        '{period} {count} 笔',
    'Forfeited after approval':
        '批准后取消返利',
    'a FORFEIT violation covers this period: not payable':
        '本期间有取消返利（FORFEIT）类违规：不予支付',
    'terms for segment {code} ({name})':
        '客户分类 {code}（{name}）的条款',
    'terms for segment {code}':
        '客户分类 {code} 的条款',
    '{product} = {earned}':
        '{product} = {earned}',
    'Adjustment: {cause}':
        '调整：{cause}',
    '{amount}':
        '{amount}',
    'Net after dispute':
        '申诉后净额',
    '{sum} = {net}':
        '{sum} = {net}',
    'must not be empty':
        '不能为空',
    'must be at most {limit} characters':
        '最多 {limit} 个字符',
    'must not contain control characters':
        '不能包含控制字符',
    ("may contain only letters, digits, '.', '_' and '-', starting with a letter or "
     'digit'):
        "只能包含字母、数字、'.'、'_' 和 '-'，并以字母或数字开头",
    'nesting deeper than {limit} levels':
        '嵌套超过 {limit} 层',
    'must be between {earliest} and today ({today})':
        '必须在 {earliest} 与今天（{today}）之间',
    'DISQUALIFIED is set only by a FORFEIT_YEAR violation':
        'DISQUALIFIED 只能由 FORFEIT_YEAR 违规设置',
    'a DISQUALIFIED dealer is reinstated only by reinstateDealer':
        '已取消资格（DISQUALIFIED）的经销商只能通过 reinstateDealer 恢复',
    'must be a JSON object':
        '必须是 JSON 对象',
    "key {key} is not allowed (empty, '$' first, or '.')":
        "键 {key} 不允许（为空、以 '$' 开头或包含 '.'）",
    'numbers in attributes must be given as strings or integers':
        'attributes 中的数字必须以字符串或整数给出',
    'must be at most {limit} bytes':
        '最多 {limit} 字节',
    'must be JSON':
        '必须是 JSON',
    '{sentences}':
        '{sentences}',
    'All before scorecard, deductions and cap.':
        '以上均未计考核系数、扣减和封顶。',
    ('Year to date, {window}: a basis of {basis} earns {rebate}; the earlier periods '
     'already accrued {earlier}, so the true-up of {period} is {period_rebate}.'):
        ('年初至今，{window}：基数 {basis} 可得返利 {rebate}；此前各期已计提 '
         '{earlier}，因此 {period} 的补差为 {period_rebate}。'),
    '{period} on its own, {window}: a basis of {basis} earns {rebate}.':
        '{period} 本期，{window}：基数 {basis} 可得返利 {rebate}。',
    'The top tier is reached.':
        '已达到最高档位。',
    ('{more} more reaches the next tier at {threshold}, where the rebate would be '
     '{rebate} ({period_rebate} for {period}).'):
        ('再增加 {more} 即可达到下一档门槛 {threshold}，届时返利为 {rebate}（其中 {period} '
         '为 {period_rebate}）。'),
    ('{more} more reaches the next tier at {threshold}, where the rebate would be '
     '{rebate}.'):
        '再增加 {more} 即可达到下一档门槛 {threshold}，届时返利为 {rebate}。',
    'With {more} more: {rebate} ({period_rebate} for {period}).':
        '如再增加 {more}：返利 {rebate}（其中 {period} 为 {period_rebate}）。',
    'With {more} more: {rebate}.':
        '如再增加 {more}：返利 {rebate}。',
    'score {score} gives multiplier {multiplier}: {gross} × {multiplier} {rounding}':
        '得分 {score}，系数 {multiplier}：{gross} × {multiplier} {rounding}',
    '{total}; {percent} of {amount} {rounding}':
        '{total}；{amount} 的 {percent} {rounding}',
    'cap {cap} − {used} already accrued in other periods = {left} left; {verdict}':
        '封顶 {cap} − 其他期间已计提 {used} = 剩余 {left}；{verdict}',
    ('no {template} scorecard recorded for {period}: counted at × 1 for now; on hold, '
     'not payable until the scorecard is recorded'):
        '{period} 尚无 {template} 考核评分：暂按 × 1 计算；暂缓，录入考核评分前不予支付',
    '{listed} = {total}, capped at 100%':
        '{listed} = {total}，以 100% 为上限',
    '{listed} = {total}':
        '{listed} = {total}',
    '{total}; not applied to {amount}: a penalty never reduces a clawback':
        '{total}；不适用于 {amount}：罚扣从不减少追回金额',
    '{amount} cut to {capped}':
        '{amount} 削减为 {capped}',
    '{amount} fits':
        '{amount} 未超出',
    '{amount} → {zero}':
        '{amount} → {zero}',
    '{amount} kept: a forfeiture never cancels a clawback':
        '保留 {amount}：取消返利从不抵消追回金额',
    'Net (on hold until the scorecard is recorded)':
        '净额（暂缓，待录入考核评分）',
    'Net':
        '净额',
    'Scorecard':
        '考核评分',
    'Deduction: {reason}':
        '扣减：{reason}',
    '{percent}':
        '{percent}',
    'Deductions':
        '扣减合计',
    'After deductions':
        '扣减后',
    '{amount} − {deduction} = {after}':
        '{amount} − {deduction} = {after}',
    'not part of this program: × 1':
        '本政策不含考核：× 1',
    'Scorecard missing':
        '缺少考核评分',
    'Cap':
        '封顶',
    'Forfeited: {reason}':
        '取消返利：{reason}',
    '+{amount}':
        '+{amount}',
    '−{amount}':
        '−{amount}',
    'month':
        '月',
    'quarter':
        '季度',
    'year':
        '年',
    '{name} is not a period (expected 2026-03, 2026-Q1 or 2026)':
        '{name} 不是期间（应为 2026-03、2026-Q1 或 2026）',
    'period must be a string, got {type}':
        '期间必须是字符串，收到 {type}',
    "{name} is outside the program's validity {start}..{end}":
        '{name} 不在政策有效期 {start}..{end} 内',
    'year {year} is out of range 1..9999':
        '年份 {year} 超出范围 1..9999',
    '{kind} {index} is out of range':
        '{kind} {index} 超出范围',
    '{name} is a {found}; expected a {wanted}':
        '{name} 是{found}；应为{wanted}',
    '{name} is not a valid period: {why}':
        '{name} 不是有效期间：{why}',
    'validTo must not be before validFrom':
        'validTo 不能早于 validFrom',
    'at least one terms entry is required':
        '至少需要一条条款',
    'a PER_UNIT rate needs basis QUANTITY':
        'PER_UNIT 返利标准需要基数 QUANTITY',
    'currency must be a 3-letter uppercase code (ISO 4217)':
        '币种必须是 3 位大写字母代码（ISO 4217）',
    'taxRate must be between 0 and 100':
        'taxRate 必须在 0 到 100 之间',
    'scorecard template {template} does not exist':
        '考核模板 {template} 不存在',
    'a RETIRED program cannot be edited':
        '已停用（RETIRED）的政策不能编辑',
    'a YEAR_TO_DATE program may run at most one year':
        'YEAR_TO_DATE 政策最长只能运行一年',
    'only one default terms entry (no segment) is allowed':
        '只允许一条默认条款（不指定客户分类）',
    'segment {segment} already has terms':
        '客户分类 {segment} 已有条款',
    'cap must be 0 or more':
        '封顶必须大于或等于 0',
    'product code must not be blank':
        '产品代码不能为空',
    'segment {segment} does not exist':
        '客户分类 {segment} 不存在',
    '{product} is listed twice':
        '{product} 重复列出',
    '{field} of an ACTIVE program cannot change (create a new program instead)':
        '生效中（ACTIVE）政策的 {field} 不能修改（请新建政策）',
    'at least one KPI is required':
        '至少需要一个 KPI',
    'at most {limit} KPIs':
        '最多 {limit} 个 KPI',
    'weights must sum to exactly 100; they sum to {total}':
        '权重之和必须正好为 100；当前为 {total}',
    'at least one band is required':
        '至少需要一个分数段',
    'at most {limit} bands':
        '最多 {limit} 个分数段',
    'KPI {code} is already KPI {index}':
        'KPI {code} 与 KPI {index} 重复',
    'weight must be more than 0':
        '权重必须大于 0',
    'target must be more than 0':
        '目标必须大于 0',
    'minScore must be between 0 and 100':
        'minScore 必须在 0 到 100 之间',
    'multiplier must be 0 or more':
        '系数必须大于或等于 0',
    'template {template} has no KPI {code}':
        '模板 {template} 没有 KPI {code}',
    'actual must be 0 or more':
        '实际值必须大于或等于 0',
    'no actual given for KPI {code}':
        '未填写 KPI {code} 的实际值',
    'minScore {score} is already band {index}':
        'minScore {score} 与分数段 {index} 重复',
    'KPI {code} is already given at index {index}':
        'KPI {code} 已在序号 {index} 处给出',
    'must be between 0 and {limit}':
        '必须在 0 到 {limit} 之间',
    'priority {priority} is already used by segment {segment}':
        '优先级 {priority} 已被客户分类 {segment} 使用',
    'must not be negative':
        '不能为负数',
    'at most {limit} dealers':
        '最多 {limit} 个经销商',
    'no dealer with code {code}':
        '没有代码为 {code} 的经销商',
    'from {start} to {end}':
        '自 {start} 至 {end}',
    'from {start} to date (as of {today})':
        '自 {start} 至今（截至 {today}）',
    'at least one tier is required':
        '至少需要一个档位',
    'threshold must be a finite number':
        '门槛必须是有限数值',
    'rate must be a finite number':
        '返利标准必须是有限数值',
    'the first threshold must be 0 or more':
        '首档门槛必须大于或等于 0',
    'thresholds must be strictly ascending ({threshold} after {previous})':
        '门槛必须严格递增（{threshold} 在 {previous} 之后）',
    'rate must be 0 or more':
        '返利标准必须大于或等于 0',
    'a percentage rate must be at most 100':
        '百分比返利率不能超过 100',
    '{problems}':
        '{problems}',
    'must be 1–{limit} characters of letters, digits and . _ : / # -':
        '必须是 1–{limit} 个字母、数字或 . _ : / # - 字符',
    'must be positive (the kind gives the sign)':
        '必须为正数（正负由类型决定）',
    'is required: a QUANTITY program counts product {product}':
        '必填：有按数量（QUANTITY）计算的政策统计产品 {product}',
    'must be a 3-letter uppercase code (ISO 4217)':
        '必须是 3 位大写字母代码（ISO 4217）',
    '{field} {message}':
        '{field} {message}',
    '{type} on {day}: {description}':
        '{day} 发生 {type}：{description}',
    'must not be after today ({today})':
        '不能晚于今天（{today}）',
    'DEDUCT_PERCENT needs a percent':
        'DEDUCT_PERCENT 需要填写百分比',
    '{kind} takes no percent':
        '{kind} 不接受百分比',
    'must be more than 0 and at most 100':
        '必须大于 0 且不超过 100',
    '{kind}: {reason}':
        '{kind}：{reason}',
    '{value} is already taken':
        '{value} 已被占用',
    'no program with code {code}':
        '没有代码为 {code} 的返利政策',
    # targets (销售任务)
    'must be greater than 0':
        '必须大于 0',
    'is money: at most {places} decimal places':
        '是金额：最多 {places} 位小数',
    '{period} is closed: its target can no longer change':
        '{period} 已关账：其销售任务不能再修改',
    'row {first} already sets the target of {dealer} for {period}':
        '第 {first} 行已设置了 {dealer} 在 {period} 的销售任务',
    'program {code} is {status}; only ACTIVE programs accrue':
        '返利政策 {code} 的状态为 {status}；只有 ACTIVE 政策才计提',
    'no such alert':
        '没有该预警',
    'the alert is {status}; only an OPEN alert can be acknowledged':
        '该预警的状态为 {status}；只有 OPEN 预警可以确认',
    'the alert is {status}; only an OPEN or ACKNOWLEDGED alert can be dismissed':
        '该预警的状态为 {status}；只有 OPEN 或 ACKNOWLEDGED 预警可以关闭',
    'the alert changed meanwhile; reload and retry':
        '该预警已被他人修改；请刷新后重试',
    'program {code} is a DRAFT':
        '返利政策 {code} 是草稿（DRAFT）',
    '{period} is already closed':
        '{period} 已关账',
    'close {periods} first':
        '请先关账 {periods}',
    '{period} ends on {end}; close it after that':
        '{period} 于 {end} 结束；请在此之后关账',
    'the dealer is SUSPENDED: not payable until reactivated':
        '经销商已暂停（SUSPENDED）：恢复前不予支付',
    'only an APPROVED accrual not yet settled can be disputed; this one is {status}':
        '只有已批准且未结算的计提可以申诉；该计提的状态为 {status}',
    'dispute accepted: {note}':
        '申诉已接受：{note}',
    'no such accrual':
        '没有该计提',
    'a rejected dispute takes no adjustment':
        '驳回的申诉不能带调整金额',
    'leave it out rather than 0':
        '不需要调整时请不填，而不是填 0',
    'no such dispute':
        '没有该申诉',
    'the dispute is already {status}':
        '该申诉已是 {status}',
    'the dispute was resolved meanwhile':
        '该申诉已被他人处理',
    'the program changed meanwhile; reload and retry':
        '该返利政策已被他人修改；请刷新后重试',
    'program {code} already exists':
        '返利政策 {code} 已存在',
    'program {code} is {status}, not DRAFT':
        '返利政策 {code} 的状态为 {status}，不是 DRAFT',
    'correction for closed {period}: {what}':
        '已关账期间 {period} 的更正：{what}',
    'none':
        '无',
    'late transactions (gross {was} → {now})':
        '迟到交易（毛额 {was} → {now}）',
    'violations (deduction {was} → {now})':
        '违规（扣减 {was} → {now}）',
    'scorecard (× {was} → × {now})':
        '考核评分（× {was} → × {now}）',
    'figures changed':
        '数据有变化',
    'reclaim of {amount} settled for {period} (forfeited)':
        '追回 {period} 已结算的 {amount}（取消返利）',
    'scorecard template {code} already exists':
        '考核模板 {code} 已存在',
    'no scorecard template with code {code}':
        '没有代码为 {code} 的考核模板',
    '{period} has not begun yet (today is {today})':
        '{period} 尚未开始（今天是 {today}）',
    'externalId {id} was already recorded with different content; nothing changed':
        'externalId {id} 已以不同内容录入；未作任何修改',
    'dealer {code} is {status}, not DISQUALIFIED':
        '经销商 {code} 的状态为 {status}，不是 DISQUALIFIED',
    'close {period} before settling it':
        '请先关账 {period} 再结算',
    'nothing to settle for {period}: no accrual approved since the last settlement':
        '{period} 没有可结算的内容：自上次结算以来没有新批准的计提',
    # issue 10: targets and achievement tiers, immediate rebates, minimum payout
    '({basis} − target {target}) × {rate} {rounding}':
        '（{basis} − 任务 {target}）× {rate} {rounding}',
    '1 transaction: {listed}':
        '1 笔交易：{listed}',
    'EACH_TRANSACTION needs accumulation PER_PERIOD':
        'EACH_TRANSACTION（逐笔计算）只能用于 PER_PERIOD（按期）累计方式',
    'EACH_TRANSACTION needs tierMeasure BASIS':
        'EACH_TRANSACTION（逐笔计算）只能用于 tierMeasure BASIS（按基数）',
    'Each transaction':
        '逐笔返利',
    'Minimum payout':
        '最低支付额',
    'No target set for {periods}: the rebate is 0 until it is set.':
        '{periods} 尚未设定销售任务：设定之前返利为 0。',
    'ON_EXCESS_OVER_TARGET needs a PERCENT or PER_UNIT rate, not FIXED':
        'ON_EXCESS_OVER_TARGET（超额部分返利）需要 PERCENT 或 PER_UNIT 返利标准，不能是 FIXED',
    'ON_EXCESS_OVER_TARGET needs tierMeasure TARGET_ACHIEVEMENT':
        'ON_EXCESS_OVER_TARGET（超额部分返利）需要 tierMeasure TARGET_ACHIEVEMENT（按任务完成率）',
    'Target':
        '销售任务',
    'Target (year to date)':
        '销售任务（年度累计）',
    'Target {target}, reached {percent}: sell {more} more to reach 100%.':
        '销售任务 {target}，已完成 {percent}：再销售 {more} 即可完成 100%。',
    'Target {target}, reached {percent}: the target is met.':
        '销售任务 {target}，已完成 {percent}：任务已完成。',
    'below the minimum payout {minimum}: {net} carried forward to {period}':
        '低于最低支付额 {minimum}：{net} 结转至 {period}',
    'carried forward from {period}':
        '自 {period} 结转',
    'minimumPayout is money: at most 2 decimal places':
        'minimumPayout 是金额：最多 2 位小数',
    'minimumPayout must be more than 0':
        'minimumPayout 必须大于 0',
    # rebate-account credits from settlements, reclaims (issue 11)
    'creditValidityDays applies only to payoutForm CREDIT_NOTE':
        'creditValidityDays 仅适用于支付方式 CREDIT_NOTE',
    'creditValidityDays must be between 1 and {most}':
        'creditValidityDays 必须在 1 到 {most} 之间',
    'reclaim of {amount} settled for {period} (forfeited; debited from the rebate account)':
        '追回 {period} 已结算的 {amount}（取消返利；已从返利账户扣回）',
    'no counted transactions':
        '无计入的交易',
    'no sales':
        '无销售',
    'no target set for {periods}':
        '{periods} 尚未设定销售任务',
    'target for {period}: {amount}':
        '{period} 销售任务：{amount}',
    'target {target}, reached {basis} = {percent} < {threshold}: no tier reached':
        '任务 {target}，完成 {basis} = {percent} < {threshold}：未达到任何档位',
    'target {target}, reached {basis} = {percent} ≥ {threshold}: rate {rate}':
        '任务 {target}，完成 {basis} = {percent} ≥ {threshold}：返利标准 {rate}',
    'a TARGET_ACHIEVEMENT threshold is a percentage of the target: at most {limit}':
        'tierMeasure 为 TARGET_ACHIEVEMENT 时门槛是任务的百分比：最多 {limit}',
    '{count} at tier ≥ {threshold} ({rate}): {earned}':
        '{count} 笔达到 ≥ {threshold} 档（{rate}）：{earned}',
    '{count} below the first tier':
        '{count} 笔低于第一档',
    '{count} transactions: {listed}':
        '{count} 笔交易：{listed}',
    '{net} is below the minimum payout {minimum}; {period} is the last period: paid in full':
        '{net} 低于最低支付额 {minimum}，但 {period} 是该返利政策的最后一期：全额支付',
    '{net} reaches the minimum payout {minimum}: paid':
        '{net} 达到最低支付额 {minimum}：支付',
    '{net} − {carried} carried forward = {paid}':
        '{net} − 结转 {carried} = {paid}',
    '{sales} − {returns} {rounding}':
        '{sales} − {returns} {rounding}',
    '{summary}; 1 return reversed {amount}':
        '{summary}；1 笔退货冲回 {amount}',
    '{summary}; {count} returns reversed {amount}':
        '{summary}；{count} 笔退货冲回 {amount}',
    # immediate-rebate (EACH_TRANSACTION) forecast
    '{period}, {window}: every order earns on its own; the orders so far ({basis}) earned '
    '{rebate}.':
        '{period}，{window}：每笔订单单独计算返利；已有订单（{basis}）共得 {rebate}。',
    'One more order of {order} would bring the period to {rebate}.':
        '再下一笔 {order} 的订单，本期返利将达到 {rebate}。',
    'An order of at least {threshold} reaches the next tier: the period would then hold '
    '{rebate}.':
        '单笔订单达到 {threshold} 即可进入下一档，本期返利将为 {rebate}。',
    'An order of this size reaches the top tier.':
        '这一金额的订单已达到最高档位。',
    # rebate accounts (返利账户)
    'A {status} dealer cannot use rebate credit.':
        '状态为 {status} 的经销商不能使用返利。',
    "At most {left} of this order's rebate can still be refunded.":
        '该订单最多还可退回返利 {left}。',
    "Only captured rebate can be refunded; order {order}'s is not.":
        '只有已扣用的返利才能退回；订单 {order} 的返利尚未扣用。',
    'Only {available} of rebate is available, less than {amount}.':
        '可用返利仅 {available}，不足 {amount}。',
    'Order {order} already reserved {amount} of rebate for dealer {dealer}.':
        '订单 {order} 已为经销商 {dealer} 预占返利 {amount}。',
    'Order {order} was already refunded {amount}.':
        '订单 {order} 已退回返利 {amount}。',
    'Rebate may pay at most {limit} of this order.':
        '该订单最多可用返利冲抵 {limit}。',
    'Refunded from order {order}.':
        '订单 {order} 退货退回返利。',
    'Reservation for order {order} released.':
        '订单 {order} 的返利预占已释放。',
    'Reserved for order {order}.':
        '为订单 {order} 预占返利。',
    'Spent on order {order}.':
        '订单 {order} 扣用返利。',
    'The rebate account is in debt ({debt}): nothing can be reserved until new credit '
    'covers it.':
        '返利账户欠款 {debt}：新的返利入账补足之前不能预占。',
    'The rebate of order {order} was already captured.':
        '订单 {order} 的返利已扣用。',
    'The rebate of order {order} was already released.':
        '订单 {order} 的返利已释放。',
    'Unspent credit expired.':
        '未使用的返利已过期。',
    'must be 1 to {limit} characters':
        '长度须为 1 至 {limit} 个字符',
    'must be a positive amount with at most 2 decimals':
        '须为正数金额，最多两位小数',
    'must not exceed the order amount':
        '不得超过订单金额',
    'no rebate reservation for order {order}':
        '订单 {order} 没有返利预占',
    "must be 1 to {limit} characters, without ':'":
        "必须是 1 到 {limit} 个字符，且不含 ':'",
}
